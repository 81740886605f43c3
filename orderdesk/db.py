"""Lean database work for the order intake: commits that need not wait for the disk, plain statements.

A commit normally waits until PostgreSQL has flushed its write-ahead log
(fsync), which is most of what a short write costs. Some writes on the intake
path only matter if a later, ordinary commit of the same request depends on
them: the Idempotency-Key claim and the order-number increment. For those,
waiting is wasted: PostgreSQL writes its log in order, so the later commit's
flush makes the earlier write durable too; and if the database crashes before
that, the write is lost together with nothing that depended on it (no order
was committed with that number or under that key). Other connections see the
row as soon as it commits, flushed or not, so the claim still decides between
concurrent requests.
"""

import datetime
import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model


@contextmanager
def atomic_without_flush_wait() -> Iterator[None]:
    """transaction.atomic() with synchronous_commit off for this transaction only.

    Inside an enclosing transaction it simply joins it, without a savepoint
    (its callers' single statements need no partial rollback): the enclosing
    commit decides, and keeps waiting for its own flush. On SQLite it is
    plain atomic().
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic(savepoint=outermost):
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


# --- Lean statements for writing orders ---------------------------------------------
#
# The ORM spends about a millisecond of CPU compiling and running each query,
# ten times what the same statement costs through a cursor. For order_submit
# (orders.services.submission) and every timeline event the pipeline records
# that was most of the cost, so the few statements there are built once per model and
# run through a cursor. Values still go through each field's own preparation
# (get_db_prep_save), so JSON, dates and defaults are stored exactly as the ORM
# stores them, and a field added to a model is picked up without a change here.


def _default_db():
    # The connection itself: `connection` is a proxy that looks it up again (in an
    # asgiref Local) on every attribute access, and the fields' preparation reads
    # several attributes of the connection for every value.
    return connections[DEFAULT_DB_ALIAS]


def _insert_fields(model) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@functools.cache
def _insert_sql(model, rows: int, *, unless_conflict: bool = False) -> str:
    quote = connection.ops.quote_name
    fields = _insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    on_conflict = " ON CONFLICT DO NOTHING" if unless_conflict else ""
    primary_key = quote(model._meta.pk.column)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)}"
        f"{on_conflict} RETURNING {primary_key}"
    )


def _insert_params(db, fields, instances) -> list:
    return [field.get_db_prep_save(field.pre_save(instance, True), db) for instance in instances for field in fields]


def _mark_saved(db, instance: Model, key) -> None:
    instance.pk = key
    instance._state.adding = False
    instance._state.db = db.alias


def insert_instances(instances: Sequence[Model]) -> None:
    """INSERT new instances of one model with as few statements as possible and set their primary keys.

    Like bulk_create (no save(), no signals: none of our models has any), at a
    fraction of its CPU. Every concrete field is written, prepared by the field.
    """
    if not instances:
        return
    db = _default_db()
    model = type(instances[0])
    fields = _insert_fields(model)
    batch_size = db.ops.bulk_batch_size(fields, instances) or len(instances)
    for start in range(0, len(instances), batch_size):
        batch = instances[start : start + batch_size]
        with db.cursor() as cursor:
            cursor.execute(_insert_sql(model, len(batch)), _insert_params(db, fields, batch))
            keys = [row[0] for row in cursor.fetchall()]
        for instance, key in zip(batch, keys, strict=True):
            _mark_saved(db, instance, key)


def insert_unless_conflict(instance: Model) -> bool:
    """INSERT … ON CONFLICT DO NOTHING of one new instance: False, and no primary key, when a unique constraint refused it."""
    db = _default_db()
    model = type(instance)
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(model, 1, unless_conflict=True), _insert_params(db, _insert_fields(model), [instance]))
        row = cursor.fetchone()
    if row is None:
        return False
    _mark_saved(db, instance, row[0])
    return True


def update_fields_of(instance: Model, field_names: Sequence[str]) -> None:
    """UPDATE these fields of a saved instance in one plain statement: save(update_fields=…) without the ORM's cost."""
    db = _default_db()
    quote = db.ops.quote_name
    meta = type(instance)._meta
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(getattr(instance, field.attname), db) for field in fields]
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s", [*params, instance.pk])



# --- Prepared statements and rows as JSON (PostgreSQL) ---------------------------------
#
# The order intake (orders.api.intake) runs two statements per order, thousands
# of times a minute in a surge. Sent as plain text, PostgreSQL parses, analyses
# and plans each one every time, which was most of its CPU for them; prepared
# once per connection it only executes them. Rows travel as one JSON document
# per table, which PostgreSQL casts to the columns' types
# (jsonb_populate_record): the statement's text is then the same whatever the
# number of lines, so it can stay prepared, and the driver adapts one
# parameter instead of dozens.


class _PreparingCursor:
    """A psycopg cursor with server-side binding that prepares every statement it runs.

    Statements are logged where Django logs its own (DEBUG, CaptureQueriesContext).
    """

    def __init__(self, db, cursor):
        self._db = db
        self._cursor = cursor

    def execute(self, sql: str, params) -> None:
        if not self._db.queries_logged:
            self._cursor.execute(sql, params, prepare=True)
            return
        started = time.monotonic()
        try:
            self._cursor.execute(sql, params, prepare=True)
        finally:
            self._db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})

    def fetchone(self):
        return self._cursor.fetchone()


@contextmanager
def prepared_cursor() -> Iterator[_PreparingCursor]:
    """A cursor on the default PostgreSQL connection whose statements are prepared once per connection.

    Django's own cursors bind parameters in the client and never prepare
    (they stay usable behind a transaction-pooling PgBouncer); this one
    needs the connection's prepare_threshold to be set, which settings.py
    does for PostgreSQL. Errors are Django's (IntegrityError …), as from
    connection.cursor(), but the statements bypass Django's query logging.
    """
    import psycopg  # only on PostgreSQL

    db = _default_db()
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        yield _PreparingCursor(db, cursor)


def statement_atomic():
    """For one statement that may fail (a unique constraint): inside a transaction, a savepoint; else nothing.

    A single statement is atomic on its own, and wrapping it in atomic() in
    autocommit mode would cost a BEGIN and a COMMIT round trip. Inside an
    enclosing transaction (a test, ATOMIC_REQUESTS) the savepoint keeps the
    failed statement from aborting the rest of it.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def insert_from_json_sql(model, *, rows: str, many: bool, with_primary_key: bool = False) -> str:
    """INSERT … SELECT of one row (a JSON object) or several (a JSON array): `rows` is the SQL expression that gives them."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields if with_primary_key else _insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(model._meta.db_table)
    populate = "jsonb_populate_recordset" if many else "jsonb_populate_record"
    return f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {populate}(NULL::{table}, {rows})"


def json_rows(instances: Sequence[Model], *, with_primary_key: bool = False) -> list[dict]:
    """Column → value of each instance, for insert_from_json_sql (JSON fields stay nested, dates become ISO text)."""
    model = type(instances[0])
    fields = model._meta.concrete_fields if with_primary_key else _insert_fields(model)
    return [{field.column: _json_value(field.pre_save(instance, True)) for field in fields} for instance in instances]


def _json_value(value):
    return value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else value
