"""Document numbers (O-2026-000123, Q-2026-000045) from the database.

Allocation is one statement in its own short transaction, so the sequence row
is locked only for the increment, not for the whole order transaction: under
a surge many orders are created at once. The price is that a rolled-back order
leaves a gap in the numbers, which is fine for orders and quotes (they are not
invoices). The numbered tables carry a unique constraint as the final guard.

The increment's commit does not wait for the disk (orderdesk.db): the order
that uses the number commits after it, and that commit's flush covers it.
"""

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from orderdesk.db import atomic_without_flush_wait
from orderdesk.models import NumberSequence

# UPDATE … RETURNING (PostgreSQL, SQLite ≥ 3.35): increment and read in one
# round trip, under the row lock, so two callers never see the same value.
_INCREMENT = "UPDATE {table} SET last_value = last_value + 1 WHERE prefix = %s AND year = %s RETURNING last_value"


def next_number(prefix: str, *, year: int | None = None, width: int = 6) -> str:
    year = year or timezone.localdate().year
    with atomic_without_flush_wait():
        value = _increment(prefix, year)
        if value is None:
            value = _create_sequence(prefix, year)
    return format_number(prefix, year, value, width=width)


def format_number(prefix: str, year: int, value: int, *, width: int = 6) -> str:
    return f"{prefix}-{year}-{value:0{width}d}"


def _increment(prefix: str, year: int) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(_INCREMENT.format(table=connection.ops.quote_name(NumberSequence._meta.db_table)), [prefix, year])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _create_sequence(prefix: str, year: int) -> int:
    """First number of a series: create the row at 1, or bump it if another process just did."""
    try:
        with transaction.atomic():
            NumberSequence.objects.create(prefix=prefix, year=year, last_value=1)
        return 1
    except IntegrityError:
        return _increment(prefix, year)
