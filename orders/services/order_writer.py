"""Storing a validated new order: one job, two implementations, chosen in one place (`order_writer`).

Both write the same rows and keep the same promises:

- the order gets the next number of the year (orderdesk.numbering);
- the order, its lines, its first timeline event and, for the API, the
  response to replay for the request's Idempotency-Key commit together, or
  nothing is written (a PO number the customer already used raises
  IntegrityError from the unique constraint);
- once committed, the order is handed to the pipeline (enqueue_new_order).

`OrmOrderWriter` does it with Django's ORM, on any database (the embedded
mode's SQLite). `PostgresOrderWriter` does it in one prepared statement:
in a surge, order intake is the API's busiest call and the web processes' CPU
is what limits it, and four ORM statements cost several times what one
statement that carries every row as a JSON document does. The rows are built
once, from the models, by `_new_rows` for both.
"""

import functools
import json
from dataclasses import dataclass

from django.db import connection, transaction

from licensing.models import Customer
from orderdesk.api.idempotency import finish_record
from orderdesk.audit import Actor
from orderdesk.db import fetch_one, json_rows, statement_atomic
from orderdesk.models import IdempotencyRecord
from orderdesk.numbering import next_number
from orders.models import Order, OrderEvent, OrderLine
from orders.services.queueing import enqueue_new_order

ORDER_NUMBER_PREFIX = "O"
# The first entry of every order's timeline.
RECEIVED_REASON = "order received"


@dataclass(frozen=True)
class ReplayableResponse:
    """The API's answer to a submission, stored with the order for replays of the same Idempotency-Key."""

    record_id: int | None  # the request's claimed IdempotencyRecord; None without an Idempotency-Key
    status: int
    body: dict
    headers: dict


class OrmOrderWriter:
    def write(self, *, customer: Customer, new_order, source: str, quote, actor: Actor, replayable) -> Order:
        """Store the order (see the module docstring); returns it with its lines in `prefetched_lines`."""
        order, event = _new_rows(customer=customer, new_order=new_order, source=source, quote=quote, actor=actor)
        with transaction.atomic():
            order.save(force_insert=True)
            for line in order.prefetched_lines:
                line.order = order
            OrderLine.objects.bulk_create(order.prefetched_lines)
            event.order = order
            event.save(force_insert=True)
            response = replayable(order) if replayable is not None else None
            if response is not None and response.record_id is not None:
                finish_record(response.record_id, status=response.status, body=response.body, headers=response.headers)
            transaction.on_commit(lambda: enqueue_new_order(order.pk))
        return order


class PostgresOrderWriter:
    def write(self, *, customer: Customer, new_order, source: str, quote, actor: Actor, replayable) -> Order:
        """Store the order (see the module docstring) in one statement; returns it as OrmOrderWriter does."""
        order, event = _new_rows(customer=customer, new_order=new_order, source=source, quote=quote, actor=actor)
        response = replayable(order) if replayable is not None else None
        document = {
            "order": json_rows([order])[0],
            "lines": json_rows(order.prefetched_lines),
            "event": json_rows([event])[0],
            "response": None if response is None else {"body": response.body, "headers": response.headers, "status": response.status},
        }
        with statement_atomic():
            (order.pk,) = fetch_one(
                _write_order_sql(),
                [json.dumps(document), IdempotencyRecord.State.FINISHED.value, None if response is None else response.record_id],
            )
        order._state.adding = False
        order._state.db = connection.alias
        transaction.on_commit(lambda: enqueue_new_order(order.pk))
        return order


def order_writer() -> OrmOrderWriter | PostgresOrderWriter:
    """The writer for this database: the one place that chooses."""
    return _POSTGRES_WRITER if connection.vendor == "postgresql" else _ORM_WRITER


_ORM_WRITER = OrmOrderWriter()
_POSTGRES_WRITER = PostgresOrderWriter()


def _new_rows(*, customer: Customer, new_order, source: str, quote, actor: Actor) -> tuple[Order, OrderEvent]:
    """The unsaved order (its lines in `prefetched_lines`) and its first event; the number is drawn here."""
    order = Order(
        number=next_number(ORDER_NUMBER_PREFIX),
        customer=customer,
        po_number=new_order.po_number,
        requested_start=new_order.requested_start,
        notes=new_order.notes,
        source=source,
        quote=quote,
        discount=new_order.discount,
        subtotal=new_order.subtotal,
        tax=new_order.tax,
        total=new_order.total,
    )
    order.prefetched_lines = [
        OrderLine(
            order=order,
            position=line.position,
            product_id=line.product_id,
            sku=line.sku,
            product_name=line.product_name,
            unit=line.unit,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_rate=line.tax_rate,
        )
        for line in new_order.lines
    ]
    event = OrderEvent.new(
        order, actor=actor, action=OrderEvent.Action.RECEIVED, to_status=order.status, reason=RECEIVED_REASON, created_at=order.created_at
    )
    return order, event


@functools.cache
def _write_order_sql() -> str:
    """One statement: the order, its lines and event (given the order's new id), and the key's stored response.

    Built from the models, so a field added to one is written without a change
    here. Every row travels in one JSON document, which PostgreSQL casts to
    the columns' types (jsonb_populate_record), so the statement's text is the
    same for any number of lines and stays prepared. Without a claimed key
    (record id NULL) the UPDATE matches no row.
    """
    quote_name = connection.ops.quote_name

    def insert(model, *, source: str, many: bool, order_id_from: str | None) -> str:
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        columns = ", ".join(quote_name(field.column) for field in fields)
        values = ", ".join(
            order_id_from if field.column == "order_id" and order_id_from else f"r.{quote_name(field.column)}" for field in fields
        )
        table = quote_name(model._meta.db_table)
        populate = "jsonb_populate_recordset" if many else "jsonb_populate_record"
        return f"INSERT INTO {table} ({columns}) SELECT {values} FROM {populate}(NULL::{table}, {source}) AS r"

    record_table = quote_name(IdempotencyRecord._meta.db_table)
    return f"""
WITH document AS (SELECT %s::jsonb AS rows),
new_order AS ({insert(Order, source="(SELECT rows -> 'order' FROM document)", many=False, order_id_from=None)} RETURNING id),
new_lines AS ({insert(OrderLine, source="(SELECT rows -> 'lines' FROM document)", many=True, order_id_from="(SELECT id FROM new_order)")}),
new_event AS ({insert(OrderEvent, source="(SELECT rows -> 'event' FROM document)", many=False, order_id_from="(SELECT id FROM new_order)")}),
stored_response AS (
    UPDATE {record_table}
    SET state = %s::text,
        response_status = (SELECT (rows -> 'response' ->> 'status')::integer FROM document),
        response_body = (SELECT rows -> 'response' -> 'body' FROM document),
        response_headers = (SELECT rows -> 'response' -> 'headers' FROM document)
    WHERE id = %s::bigint AND EXISTS (SELECT FROM new_order)
)
SELECT id FROM new_order
"""
