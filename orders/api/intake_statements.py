"""The order intake's two statements (PostgreSQL): everything an ordinary submission writes.

1. claim_submission(): the token and its customer, the Idempotency-Key claim,
   the order number, the order's id and the catalog rows of its SKUs, in one
   statement that commits on its own, so a second request with the same key
   sees the claim at once (409 while in flight).
2. write_order(): the order, its lines, its first timeline event and the
   key's stored 201 response, in one statement, so they commit together or
   not at all.

The same work through the ORM is 13 statements and round trips, each costing
Python and PostgreSQL time. Both statements are prepared once per connection
(orderdesk.db.prepared_cursor), and the rows of the second travel as JSON, so
its text does not change with the number of lines.

What the statements decide is what the ORM path decides, and each condition is
named where it lives elsewhere: a token counts while it is not revoked and its
customer is active (licensing.authentication.CustomerTokenAuthentication); the claim is
orderdesk.api.idempotency.claim_key's INSERT … ON CONFLICT DO NOTHING; the
number is orderdesk.numbering.next_number's increment; the catalog rows are
licensing.selectors.priced_products'.
"""

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from licensing.selectors import PRICED_PRODUCTS_JSON_SUBQUERY, PricedProduct, priced_products_from_rows
from orderdesk.db import insert_from_json_sql, json_rows, prepared_cursor, statement_atomic
from orderdesk.models import IdempotencyRecord
from orderdesk.numbering import format_number
from orders.models import Order, OrderEvent, OrderLine

ORDER_NUMBER_PREFIX = "O"

# A claim's commit does not wait for the disk (set_config(…, true) lasts until
# the end of this statement's transaction), as orderdesk.db.atomic_without_flush_wait
# explains: the order's own commit, which waits, flushes it. Without a key
# nothing is claimed; with a key that already has a record nothing is claimed
# and no number is drawn (the DRF path then replays or answers 409/422).
_CLAIM = f"""
WITH owner AS (
    SELECT t.id AS token_id, c.id AS customer_id, c.code AS customer_code
    FROM licensing_apitoken t JOIN licensing_customer c ON c.id = t.customer_id
    WHERE t.key_hash = %(token_hash)s AND t.revoked_at IS NULL AND c.is_active
),
claim AS (
    INSERT INTO orderdesk_idempotencyrecord
        (customer_id, key, request_fingerprint, state, response_headers, created_at, expires_at)
    SELECT customer_id, %(key)s::text, %(fingerprint)s::text, %(in_flight)s::text, '{{}}', %(now)s, %(expires_at)s
    FROM owner
    WHERE %(key)s::text IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING id
),
number AS (
    INSERT INTO orderdesk_numbersequence (prefix, year, last_value)
    SELECT %(prefix)s::text, %(year)s::integer, 1
    FROM owner
    WHERE %(key)s::text IS NULL OR EXISTS (SELECT FROM claim)
    ON CONFLICT (prefix, year) DO UPDATE SET last_value = orderdesk_numbersequence.last_value + 1
    RETURNING last_value
)
SELECT
    owner.token_id,
    owner.customer_id,
    owner.customer_code,
    (SELECT id FROM claim),
    (SELECT last_value FROM number),
    CASE WHEN EXISTS (SELECT FROM number) THEN nextval(pg_get_serial_sequence('orders_order', 'id')) END,
    ({PRICED_PRODUCTS_JSON_SUBQUERY}),
    set_config('synchronous_commit', 'off', true)
FROM owner
"""


@dataclass(frozen=True)
class Claim:
    token_id: int
    customer_id: int
    customer_code: str
    record_id: int | None  # the claimed Idempotency-Key's record; None without a key, or when the key has a record
    number: str | None  # None when nothing was claimed
    order_id: int | None  # the new order's primary key, drawn from its sequence
    products: dict[str, PricedProduct]


def claim_submission(*, token_hash: str, key: str | None, fingerprint: str, skus: list[str], now: datetime) -> Claim | None:
    """Claim the key and draw the number and id of a new order; None for a token that does not count."""
    year = timezone.localdate(now).year  # as next_number() draws it
    with prepared_cursor() as cursor:
        cursor.execute(
            _CLAIM,
            {
                "token_hash": token_hash,
                "key": key,
                "fingerprint": fingerprint,
                "in_flight": IdempotencyRecord.State.IN_FLIGHT.value,
                "now": now,
                "expires_at": now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS),
                "prefix": ORDER_NUMBER_PREFIX,
                "year": year,
                "skus": skus,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, customer_id, customer_code, record_id, last_value, order_id, catalog_rows, _setting = row
    return Claim(
        token_id=token_id,
        customer_id=customer_id,
        customer_code=customer_code,
        record_id=record_id,
        number=None if last_value is None else format_number(ORDER_NUMBER_PREFIX, year, last_value),
        order_id=order_id,
        products=priced_products_from_rows(catalog_rows or []),
    )


@functools.cache
def _write_order_sql() -> str:
    # Built from the models, so a field added to one is written without a change here.
    # One JSON document holds every row; without a claimed key (record id NULL) the
    # UPDATE matches no row and nothing is stored.
    return f"""
WITH document AS (SELECT %s::jsonb AS rows),
new_order AS ({insert_from_json_sql(Order, rows="(SELECT rows -> 'order' FROM document)", many=False, with_primary_key=True)}),
new_lines AS ({insert_from_json_sql(OrderLine, rows="(SELECT rows -> 'lines' FROM document)", many=True)}),
new_event AS ({insert_from_json_sql(OrderEvent, rows="(SELECT rows -> 'event' FROM document)", many=False)}),
stored_response AS (
    UPDATE orderdesk_idempotencyrecord
    SET state = %s::text, response_status = 201, response_body = (SELECT rows -> 'response_body' FROM document),
        response_headers = (SELECT rows -> 'response_headers' FROM document)
    WHERE id = %s::bigint
)
SELECT 1
"""


def write_order(*, order: Order, event: OrderEvent, record_id: int | None, response_body: dict, response_headers: dict) -> None:
    """Insert the order (its primary key set), its prefetched_lines and its event; store the key's 201 response.

    Raises IntegrityError when the customer already used the PO number
    (unique_po_number_per_customer): then nothing is written.
    """
    document = {
        "order": json_rows([order], with_primary_key=True)[0],
        "lines": json_rows(order.prefetched_lines),
        "event": json_rows([event])[0],
        "response_body": response_body,
        "response_headers": response_headers,
    }
    with statement_atomic(), prepared_cursor() as cursor:
        cursor.execute(_write_order_sql(), [json.dumps(document), IdempotencyRecord.State.FINISHED.value, record_id])
