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


def next_numbers(prefix: str, count: int, *, year: int | None = None, width: int = 6) -> list[str]:
    """`count` consecutive numbers in one statement. Called outside a transaction it commits at once, so a
    caller about to write many documents in one transaction (an import's batch) does not hold the
    sequence row while it writes them."""
    if count < 1:
        return []
    year = year or timezone.localdate().year
    last = fetch_one(_next_many_sql(no_flush_wait_column()), [prefix, year, count, count])[0]
    return [format_number(prefix, year, value, width=width) for value in range(last - count + 1, last + 1)]


@functools.cache
def _next_many_sql(no_flush_wait: str) -> str:
    return (
        "INSERT INTO {table} (prefix, year, last_value) VALUES (%s, %s, %s) "
        "ON CONFLICT (prefix, year) DO UPDATE SET last_value = {table}.last_value + %s "
        "RETURNING last_value{no_flush_wait}"
    ).format(table=connection.ops.quote_name(NumberSequence._meta.db_table), no_flush_wait=no_flush_wait)


@functools.cache
def _next_sql(no_flush_wait: str) -> str:
    return _NEXT.format(table=connection.ops.quote_name(NumberSequence._meta.db_table), no_flush_wait=no_flush_wait)


def format_number(prefix: str, year: int, value: int, *, width: int = 6) -> str:
    return f"{prefix}-{year}-{value:0{width}d}"
