"""Database helpers for the few hand-written statements on the order intake's path.

Prepared statements. Django's cursors bind parameters in the client and send
every statement as text, which PostgreSQL parses and plans each time; for the
intake's statements, run thousands of times a minute in a surge, that was most
of PostgreSQL's CPU. `fetch_one()` and `fetch_all()` prepare each statement
once per connection on PostgreSQL and use a plain cursor elsewhere, so the
same SQL serves both databases.

Commits that need not wait for the disk. A commit normally waits until
PostgreSQL has flushed its write-ahead log, which is most of what a short
write costs. The Idempotency-Key claim and the order number's increment only
matter if a later, ordinary commit of the same request depends on them: that
commit's flush makes the earlier write durable too (the log is written in
order), and if the database crashes before it, the claim or number is lost
together with nothing that depended on it. Other connections see the row as
soon as it commits, flushed or not, so the claim still decides between
concurrent requests. The work-hours record of a license validation
(licensing.validation) commits the same way for another reason, given there:
it is committed before the answer leaves, and only a crash of the database
server itself could lose its last fraction of a second. `no_flush_wait_column()`
gives such a statement, run on its own, the column that turns the wait off for
its own commit only.
"""

import time
from collections.abc import Sequence
from contextlib import nullcontext

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction


def _default_db():
    # The connection itself: `connection` is a proxy that looks it up again on every attribute access.
    return connections[DEFAULT_DB_ALIAS]


def fetch_one(sql: str, params: Sequence) -> tuple | None:
    """Run one hand-written statement and return its first row (None without one). See `fetch_all`."""
    db = _default_db()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    return _run_prepared(db, sql, params).fetchone()


def fetch_all(sql: str, params: Sequence) -> list[tuple]:
    """Run one hand-written statement and return its rows.

    On PostgreSQL the statement is prepared once per connection and runs on
    one cursor kept with the connection (a new cursor per statement cost as
    much as the statement); elsewhere it is a plain Django cursor, so the same
    SQL serves both databases. PostgreSQL prepares only with the connection's
    prepare_threshold set, which settings.py does. Django's own cursors still
    bind in the client and never prepare (they stay usable behind a
    transaction-pooling PgBouncer; these statements need session pooling, as
    the README says). Errors are Django's (IntegrityError …), and statements
    are logged where Django logs its own (DEBUG, CaptureQueriesContext).
    """
    db = _default_db()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    return _run_prepared(db, sql, params).fetchall()


def _run_prepared(db, sql: str, params: Sequence):
    if db.connection is None:
        db.ensure_connection()
    cursor = db.__dict__.get("_orderdesk_prepared_cursor")
    if cursor is None or cursor.connection is not db.connection:
        import psycopg  # only on PostgreSQL

        cursor = db._orderdesk_prepared_cursor = psycopg.Cursor(db.connection)
    started = time.monotonic()
    try:
        with db.wrap_database_errors:
            cursor.execute(sql, params, prepare=True)
    finally:
        if db.queries_logged:
            db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return cursor


def no_flush_wait_column() -> str:
    """", set_config(…)" for the RETURNING list of a statement that may commit without waiting for the disk.

    Only for a single statement run on its own on PostgreSQL (autocommit):
    set_config(…, true) lasts until the end of the statement's own
    transaction, whose commit then skips the wait. Inside an enclosing
    transaction, or on another database, it is "": the enclosing commit
    decides, and keeps waiting for its own flush.
    """
    db = _default_db()
    if db.vendor == "postgresql" and not db.in_atomic_block:
        return ", set_config('synchronous_commit', 'off', true)"
    return ""


def statement_atomic():
    """For one statement that may fail (a unique constraint): inside a transaction, a savepoint; else nothing.

    A single statement is atomic on its own, and wrapping it in atomic() in
    autocommit mode would cost a BEGIN and a COMMIT round trip. Inside an
    enclosing transaction (a test, a quote's acceptance) the savepoint keeps
    the failed statement from aborting the rest of it.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def delete_in_batches(queryset, batch: int) -> int:
    """Delete what `queryset` selects in short transactions of `batch` rows (and their cascade); the rows deleted.

    For retention: years of rows must not hold one long lock.
    """
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                return total
            total += queryset.model.objects.filter(pk__in=ids).delete()[0]
