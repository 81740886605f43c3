"""A trigram index on the PO number's capitals, so the backlog search finds "contains" matches by index.

PostgreSQL only (pg_trgm, a trusted extension that the database owner may
create); on SQLite the search reads the open orders as before. The index is on
UPPER(po_number::text) because that is what Django's icontains compares on PostgreSQL.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS order_po_number_trigram ON orders_order USING gin (UPPER(po_number::text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS order_po_number_trigram"]


def run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("orders", "0005_backlog_open_largest_index")]

    operations = [migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP))]
