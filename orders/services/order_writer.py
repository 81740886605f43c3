"""Storing a validated new order: one job, two implementations, chosen in one place (`order_writer`).

Both write the same rows and keep the same promises:

- the order gets the next number of the year (orderdesk.numbering);
- the order, its lines, its first timeline event, the customer's
  `order.received` event (the notifications outbox) and, for the API, the
  response to replay for the request's Idempotency-Key commit together, or
  nothing is written (a PO number the customer already used raises
  IntegrityError from the unique constraint);
- once committed, the order is handed to the pipeline (enqueue_new_order), unless
  the caller rings once for many orders (`ring=False`: orders_submit's batch);
  its order.received event is dispatched when the pipeline gathers the order
  (orders.services.pipeline.orders_gather_received), so intake pays no
  message or cache round trip for it.

`OrmOrderWriter` does it with Django's ORM, on any database (the embedded
mode's SQLite). `PostgresOrderWriter` does it in one prepared statement:
in a surge, order intake is the API's busiest call and the web processes' CPU
is what limits it, and four ORM statements cost several times what one
statement that carries every row as a JSON document does. The rows are built
once, as plain column values, by `new_order_rows` for both.
"""

import functools
import json
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone

from licensing.models import Customer
from orderdesk.api.idempotency import finish_record
from orderdesk.audit import Actor
from orderdesk.db import fetch_one, statement_atomic
from orderdesk.models import IdempotencyRecord
from orderdesk.notifications.models import Event
from orderdesk.numbering import next_number, next_numbers
from orders.models import Order, OrderEvent, OrderLine
from orders.services.notices import order_received_event_row
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
    def write(
        self, *, customer: Customer, new_order, source: str, quote, actor: Actor, replayable, ring: bool = True, number: str | None = None,
        savepoint: bool = True,
    ) -> Order:  # fmt: skip
        """Store the order (see the module docstring); returns it, its validated lines (NewOrderLine) in `prefetched_lines`.

        `savepoint=False` (inside a transaction only): no savepoint of its own; a failure then
        spoils the caller's transaction, whose own savepoint must take it back (orders_submit)."""
        rows = new_order_rows(customer=customer, new_order=new_order, source=source, quote=quote, actor=actor, number=number)
        with transaction.atomic(savepoint=savepoint):
            order = Order(**rows.order)
            order.save(force_insert=True)
            OrderLine.objects.bulk_create([OrderLine(**{**line, "order_id": order.pk}) for line in rows.lines])
            order.prefetched_lines = new_order.lines
            OrderEvent(**{**rows.event, "order_id": order.pk}).save(force_insert=True)
            response = replayable(order) if replayable is not None else None
            Event(**order_received_event_row(order=order, body=None if response is None else response.body)).save(force_insert=True)
            if response is not None and response.record_id is not None:
                finish_record(response.record_id, status=response.status, body=response.body, headers=response.headers)
            if ring:
                transaction.on_commit(lambda: enqueue_new_order(order.pk))
        return order


class PostgresOrderWriter:
    def write(
        self, *, customer: Customer, new_order, source: str, quote, actor: Actor, replayable, ring: bool = True, number: str | None = None,
        savepoint: bool = True,
    ) -> Order:  # fmt: skip
        """Store the order (see the module docstring) in one statement; returns it as OrmOrderWriter does
        (`savepoint` as there).

        The rows go to PostgreSQL as they are, not as model instances: building
        and converting Order, OrderLine and OrderEvent instances cost more CPU
        than the statement that stores them. The order returned is loaded from
        the row (Model.from_db), as a query would load it.
        """
        rows = new_order_rows(customer=customer, new_order=new_order, source=source, quote=quote, actor=actor, number=number)
        order = _loaded(Order, rows.order)
        order.prefetched_lines = new_order.lines
        response = replayable(order) if replayable is not None else None
        document = {
            "order": rows.order,
            "lines": rows.lines,
            "event": rows.event,
            "outbox_event": order_received_event_row(order=order, body=None if response is None else response.body),
            "response": None if response is None else {"body": response.body, "headers": response.headers, "status": response.status},
        }
        with statement_atomic() if savepoint else nullcontext():
            (order.pk,) = fetch_one(
                _write_order_sql(),
                [
                    json.dumps(document, default=_json_date),
                    IdempotencyRecord.State.FINISHED.value,
                    None if response is None else response.record_id,
                ],
            )
        if ring:
            transaction.on_commit(lambda: enqueue_new_order(order.pk))
        return order


def order_numbers(count: int) -> list[str]:
    """`count` order numbers drawn at once. Outside a transaction they commit at once: a batch of orders
    written in one transaction then does not hold the number sequence's row (which every new order
    needs) while it writes them."""
    return next_numbers(ORDER_NUMBER_PREFIX, count)


def order_writer() -> OrmOrderWriter | PostgresOrderWriter:
    """The writer for this database: the one place that chooses."""
    return _POSTGRES_WRITER if connection.vendor == "postgresql" else _ORM_WRITER


_ORM_WRITER = OrmOrderWriter()
_POSTGRES_WRITER = PostgresOrderWriter()


@dataclass(frozen=True)
class NewOrderRows:
    """Every column of a new order's rows, by field attname (the order's foreign keys are filled in on insert)."""

    order: dict
    lines: list[dict]
    event: dict


def new_order_rows(*, customer: Customer, new_order, source: str, quote, actor: Actor, number: str | None = None) -> NewOrderRows:
    """The rows both writers store for a validated new order; its number is drawn here unless given (`order_numbers`).

    Every concrete column but the primary keys is given (tests/test_order_intake.py
    checks it against the models), so that a column added to a model without a
    value here fails a test instead of being written as NULL by the one-statement writer.
    """
    now = timezone.now()
    order = {
        "number": number or next_number(ORDER_NUMBER_PREFIX),
        "customer_id": customer.pk,
        "po_number": new_order.po_number,
        "status": Order.Status.RECEIVED.value,
        "status_reason": "",
        "review_reasons": [],
        "status_changed_at": now,
        "source": source,
        "requested_start": new_order.requested_start,
        "notes": new_order.notes,
        "quote_id": None if quote is None else quote.pk,
        "discount": new_order.discount,
        "subtotal": new_order.subtotal,
        "tax": new_order.tax,
        "total": new_order.total,
        "claimed_by_id": None,
        "claimed_at": None,
        "swept_at": None,
        "created_at": now,
    }
    lines = [
        {
            "order_id": None,
            "position": line.position,
            "product_id": line.product_id,
            "sku": line.sku,
            "product_name": line.product_name,
            "unit": line.unit,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "tax_rate": line.tax_rate,
            "coterm_months": line.coterm_months,
            "coterm_until": line.coterm_until,
        }
        for line in new_order.lines
    ]
    event = {
        "order_id": None,
        "created_at": now,
        "actor_id": getattr(actor.user, "pk", None),
        "actor_label": actor.label,
        "action": OrderEvent.Action.RECEIVED.value,
        "from_status": "",
        "to_status": Order.Status.RECEIVED.value,
        "reason": RECEIVED_REASON,
        "data": {},
    }
    return NewOrderRows(order=order, lines=lines, event=event)


def _loaded(model, row: dict):
    """An instance as a query would load it from this row (no id yet), without Model.__init__'s keyword handling."""
    names = _attnames(model)
    return model.from_db(connection.alias, names, [None if name == "id" else row[name] for name in names])


@functools.cache
def _attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _json_date(value):
    """Dates and date-times as ISO text in the JSON document (PostgreSQL casts them to the columns' types)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@functools.cache
def _write_order_sql() -> str:
    """One statement: the order, its lines and event (given the order's new id), the outbox event, and the key's stored response.

    Built from the models, so a field added to one is written without a change
    here. Every row travels in one JSON document, which PostgreSQL casts to
    the columns' types (jsonb_populate_record), so the statement's text is the
    same for any number of lines and stays prepared. Without a claimed key
    (record id NULL) the UPDATE matches no row.
    """
    quote_name = connection.ops.quote_name

    def insert(model, *, source: str, many: bool, order_id_from: str | None) -> str:
        # The document's keys are the fields' attnames, which are their column names here.
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        assert all(field.column == field.attname for field in fields), f"{model.__name__}: a column named unlike its field"
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
outbox_event AS ({insert(Event, source="(SELECT rows -> 'outbox_event' FROM document)", many=False, order_id_from=None)}),
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
