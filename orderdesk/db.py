"""Transactions whose commit need not wait for the disk.

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

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def atomic_without_flush_wait() -> Iterator[None]:
    """transaction.atomic() with synchronous_commit off for this transaction only.

    Inside an enclosing transaction, or on SQLite, it is plain atomic(): the
    enclosing commit decides, and must keep waiting for its own flush.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
