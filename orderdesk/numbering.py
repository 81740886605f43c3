"""Document numbers (O-2026-000123, Q-2026-000045) from the database.

Allocation is one statement (an upsert: the year's first number creates its
row), committed on its own, so the sequence row is locked only for the
increment, not for the whole order transaction: under a surge many orders are
created at once. The price is that a rolled-back order leaves a gap in the
numbers, which is fine for orders and quotes (they are not invoices). The
numbered tables carry a unique constraint as the final guard.

The increment's commit does not wait for the disk (orderdesk.db): the order
that uses the number commits after it, and that commit's flush covers it.
Called inside a transaction, the increment simply joins it.
"""

import functools

from django.db import connection
from django.utils import timezone

from orderdesk.db import fetch_one, no_flush_wait_column
from orderdesk.models import NumberSequence

# INSERT … ON CONFLICT DO UPDATE … RETURNING (PostgreSQL, SQLite ≥ 3.35): the
# increment and its read in one round trip, under the row lock, so two callers
# never see the same value.
_NEXT = (
    "INSERT INTO {table} (prefix, year, last_value) VALUES (%s, %s, 1) "
    "ON CONFLICT (prefix, year) DO UPDATE SET last_value = {table}.last_value + 1 "
    "RETURNING last_value{no_flush_wait}"
)


def next_number(prefix: str, *, year: int | None = None, width: int = 6) -> str:
    year = year or timezone.localdate().year
    value = fetch_one(_next_sql(no_flush_wait_column()), [prefix, year])[0]
    return format_number(prefix, year, value, width=width)


@functools.cache
def _next_sql(no_flush_wait: str) -> str:
    return _NEXT.format(table=connection.ops.quote_name(NumberSequence._meta.db_table), no_flush_wait=no_flush_wait)


def format_number(prefix: str, year: int, value: int, *, width: int = 6) -> str:
    return f"{prefix}-{year}-{value:0{width}d}"
