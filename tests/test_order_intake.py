"""The one way an order is born (orders.services.intake): the validator, the writers, the API's 201."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from licensing.models import PriceTier
from orderdesk.api.throttling import CustomerTokenThrottle
from orderdesk.audit import Actor
from orderdesk.models import IdempotencyRecord, NumberSequence
from orders.api.serializers import OrderSerializer
from orders.models import Order
from orders.services.intake import OrderInvalid, order_submit, order_validate
from orders.models import OrderEvent, OrderLine
from orders.services.order_writer import OrmOrderWriter, PostgresOrderWriter, new_order_rows, order_writer
from tests.conftest import GATHER, order_body, take_published

pytestmark = pytest.mark.django_db


def post_order(client, body, **headers):
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json", **headers)


def _stored(order: Order) -> dict:
    """What a submission stored, without what differs between any two orders."""
    differs = {"id", "number", "po_number", "created_at", "status_changed_at"}
    return {
        "order": {k: v for k, v in Order.objects.filter(pk=order.pk).values().get().items() if k not in differs},
        "lines": list(
            order.lines.order_by("position").values(
                "position", "product_id", "sku", "product_name", "unit", "quantity", "unit_price", "amount", "tax_rate"
            )
        ),
        "events": list(order.events.values("actor_id", "actor_label", "action", "from_status", "to_status", "reason", "data")),
    }


@pytest.mark.parametrize(
    ("quantity", "accepted"),
    [(50, True), ("50", False), (50.0, False), (1e2, False), (True, False), ("５０", False), ("٥٠", False), ("1_000", False), (" 7 ", False)],
)
def test_a_quantity_is_a_json_integer_and_nothing_else(customer, catalog, quantity, accepted):
    body = order_body(lines=[{"sku": "SRA-1Y", "quantity": quantity}])

    if accepted:
        assert order_validate(body).lines[0].quantity == 50
    else:
        with pytest.raises(OrderInvalid) as refused:
            order_validate(body)
        assert [(error.field, error.code) for error in refused.value.errors] == [("lines[0].quantity", "invalid")]


@pytest.mark.parametrize(
    "po_number", ["PO\x00-1", "PO\x1b-1", "PO\u202e1-OP", "PO\u2066-1", "PO\x85-1", "PO\ud800"], ids=repr
)
def test_control_and_text_direction_characters_are_refused_in_a_po_number(customer, catalog, po_number):
    with pytest.raises(OrderInvalid) as refused:
        order_validate(order_body(po_number=po_number))

    assert [(error.field, error.code) for error in refused.value.errors] == [("po_number", "invalid_character")]
    assert "U+" in refused.value.errors[0].message


def test_notes_keep_line_breaks_but_not_text_direction_overrides(customer, catalog):
    assert order_validate(order_body(notes="一行目\n二行目\tタブ")).notes == "一行目\n二行目\tタブ"
    with pytest.raises(OrderInvalid):
        order_validate(order_body(notes="見積\u202e書"))


def test_requested_start_is_at_most_a_year_ahead(customer, catalog, settings):
    today = timezone.localdate()

    assert order_validate(order_body(requested_start=(today + timedelta(days=365)).isoformat())).requested_start
    for far in ((today + timedelta(days=366)).isoformat(), "9999-12-31"):
        with pytest.raises(OrderInvalid) as refused:
            order_validate(order_body(requested_start=far))
        assert [(error.field, error.code) for error in refused.value.errors] == [("requested_start", "too_far")]


def test_a_body_that_is_not_an_object_is_refused_as_a_whole(customer, catalog):
    for body in ([order_body()], "order", 7, None):
        with pytest.raises(OrderInvalid) as refused:
            order_validate(body)
        assert refused.value.errors[0].field is None


def test_the_201_body_is_the_order_as_every_read_shows_it(api):
    body = order_body(requested_start=(timezone.localdate() + timedelta(days=3)).isoformat())

    created = post_order(api, body).json()

    detail = api.get(f"/api/v1/orders/{created['number']}/").json()
    listed = api.get("/api/v1/orders/").json()["results"][0]
    assert {key: detail[key] for key in created} == created
    assert listed == created
    order = Order.objects.get(number=created["number"])
    assert OrderSerializer(order, context={"request": APIRequestFactory().get("/")}).data == created


def test_a_replay_is_counted_once_against_the_rate_limit(api, monkeypatch):
    monkeypatch.setattr(CustomerTokenThrottle, "THROTTLE_RATES", {"customer_token": "3/min"})

    first = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")
    replay = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")
    third = post_order(api, order_body(po_number="PO-3"), HTTP_IDEMPOTENCY_KEY="key-3")
    fourth = post_order(api, order_body(po_number="PO-4"), HTTP_IDEMPOTENCY_KEY="key-4")

    assert [first.status_code, replay.status_code, third.status_code, fourth.status_code] == [201, 201, 201, 429]
    assert replay["Idempotent-Replayed"] == "true"
    assert fourth["Content-Type"] == "application/problem+json"
    assert int(fourth["Retry-After"]) >= 1
    assert Order.objects.count() == 2


def test_an_unknown_sku_with_a_key_is_named_and_frees_the_key(api):
    unknown = post_order(api, order_body(lines=[{"sku": "NOPE-9", "quantity": 1}]), HTTP_IDEMPOTENCY_KEY="key-1")
    corrected = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")

    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "lines[0].sku"
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected
    assert IdempotencyRecord.objects.get(key="key-1").state == IdempotencyRecord.State.FINISHED


def test_the_key_stores_the_201_with_the_order(api):
    response = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")

    record = IdempotencyRecord.objects.get(key="key-1")
    assert record.state == IdempotencyRecord.State.FINISHED
    assert (record.response_status, record.response_body) == (201, response.json())
    assert record.response_headers == {"Location": response["Location"]}


def test_a_new_price_applies_to_the_next_order(api, catalog):
    before = post_order(api, order_body(po_number="PO-before")).json()
    PriceTier.objects.filter(product=catalog["SRA-1Y"], min_quantity=50).update(unit_price=5000)
    catalog["RDA-1Y"].name_ja = "リモートデスクトップ アドオン（新名称）"
    catalog["RDA-1Y"].save()

    after = post_order(api, order_body(po_number="PO-after")).json()

    assert before["lines"][0]["unit_price"] == 5400 and after["lines"][0]["unit_price"] == 5000
    assert after["lines"][1]["name"] == "リモートデスクトップ アドオン（新名称）"


def test_a_response_format_other_than_json_is_refused(api):
    response = post_order(api, order_body(), HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == 0


def test_the_api_and_the_service_store_the_same_order(api, customer):
    lines = [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 10}]
    through_api = post_order(api, order_body(po_number="PO-api", lines=lines), HTTP_IDEMPOTENCY_KEY="k").json()
    direct = order_submit(
        customer=customer, data=order_body(po_number="PO-direct", lines=lines), actor=Actor.customer(customer), source=Order.Source.API
    )

    assert _stored(Order.objects.get(number=through_api["number"])) == _stored(direct)


def test_the_postgresql_writer_stores_what_the_orm_writer_stores(requires_postgres, customer, catalog):
    assert isinstance(order_writer(), PostgresOrderWriter)
    lines = [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 10}]
    actor = Actor.customer(customer)

    orm, postgres = (
        writer.write(
            customer=customer,
            new_order=order_validate(order_body(po_number=f"PO-{index}", lines=lines, requested_start=timezone.localdate().isoformat())),
            source=Order.Source.API,
            quote=None,
            actor=actor,
            replayable=None,
        )
        for index, writer in enumerate((OrmOrderWriter(), PostgresOrderWriter()))
    )

    assert orm.number != postgres.number
    assert _stored(orm) == _stored(postgres)
    assert [line.sku for line in postgres.prefetched_lines] == ["SRA-1Y", "RDA-1Y"]


def test_a_submission_with_a_key_takes_five_statements_on_postgresql(requires_postgres, api):
    # token; key claim; catalog; order number; order, lines, event and stored response in one
    with CaptureQueriesContext(connection) as captured:
        response = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 201
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]
    assert len(queries) == 5, queries


def test_an_order_number_series_starts_with_the_years_first_submission(api):
    NumberSequence.objects.all().delete()

    first = post_order(api, order_body(po_number="PO-1"))
    second = post_order(api, order_body(po_number="PO-2"))

    year = timezone.localdate().year
    assert [first.json()["number"], second.json()["number"]] == [f"O-{year}-000001", f"O-{year}-000002"]


def test_orders_submitted_while_no_worker_runs_publish_one_gather_message(api, shared_cache, django_capture_on_commit_callbacks):
    # One message for the burst: the gather message's de-duplication key (orders.services.queueing).
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [post_order(api, order_body(po_number=f"PO-{index}")).status_code for index in range(3)]

    assert statuses == [201, 201, 201]
    assert take_published() == [GATHER]


def test_the_rows_of_a_new_order_give_every_column_of_its_models(customer, catalog):
    # The one-statement writer stores exactly these keys: a column added to a model must be given here.
    rows = new_order_rows(
        customer=customer, new_order=order_validate(order_body()), source=Order.Source.API, quote=None, actor=Actor.customer(customer)
    )

    def columns(model) -> set[str]:
        return {field.attname for field in model._meta.concrete_fields if not field.primary_key}

    assert set(rows.order) == columns(Order)
    assert all(set(line) == columns(OrderLine) for line in rows.lines)
    assert set(rows.event) == columns(OrderEvent)


@pytest.mark.parametrize(
    "moment",
    [
        timezone.now(),
        timezone.now().replace(microsecond=0),
        datetime(2026, 12, 31, 15, 0, tzinfo=UTC),
    ],
    ids=["now", "whole-second", "new-year-in-japan"],
)
def test_order_bodies_write_dates_as_drf_does(moment):
    from rest_framework import serializers

    from orders.api.serializers import api_datetime

    assert api_datetime(moment) == serializers.DateTimeField().to_representation(moment)
