"""GET /api/v1/quotes/{number}/ and POST /api/v1/quotes/{number}/accept/ (API.md)."""

import pytest

from orders.models import Order
from quotes.models import Quote
from orderdesk.audit import Actor
from quotes.services.editing import quote_revise
from quotes.services.workflow import quote_decline
from tests.conftest import order_body
from tests.factories import draft_quote, sent_quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def quote(catalog, customer):
    return sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 10, 0), (catalog["RDA-1Y"], 50)], discount=3_000)


def accept(client, number, body=None, **headers):
    return client.post(f"/api/v1/quotes/{number}/accept/", body or {}, format="json", **headers)


def test_the_customer_reads_a_sent_quote(api, quote):
    response = api.get(f"/api/v1/quotes/{quote.number}/")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == quote.number and body["status"] == "sent"
    assert [(l["sku"], l["quantity"], l["unit_price"], l["discount_percent"], l["amount"]) for l in body["lines"]] == [
        ("SRA-1Y", 50, 5400, 10, 243_000),
        ("RDA-1Y", 50, 2700, 0, 135_000),
    ]
    assert (body["discount"], body["subtotal"], body["tax"], body["total"]) == (3_000, 375_000, 37_500, 412_500)
    assert body["valid_until"] == quote.valid_until.isoformat()
    assert body["expires_at"].endswith("+09:00")
    assert body["accept_url"].endswith(f"/api/v1/quotes/{quote.number}/accept/")
    assert body["order"] is None and body["superseded_by"] is None


def test_drafts_and_other_customers_quotes_are_404(api, outsider_api, quote, catalog, customer):
    draft = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)])

    assert api.get(f"/api/v1/quotes/{draft.number}/").status_code == 404
    assert api.get("/api/v1/quotes/Q-2026-999999/").status_code == 404
    response = outsider_api.get(f"/api/v1/quotes/{quote.number}/")
    assert response.status_code == 404
    assert response.json()["type"] == "not-found"


def test_accepting_answers_201_with_the_order_in_the_orders_api_shape(api, quote):
    response = accept(api, quote.number, {"po_number": "PO-77", "notes": "承認済み"})

    assert response.status_code == 201
    body = response.json()
    submitted = api.post("/api/v1/orders/", order_body(po_number="PO-78"), format="json").json()
    assert set(body) == set(submitted)
    assert body["status"] == "received" and body["po_number"] == "PO-77" and body["quote"] == quote.number
    assert (body["subtotal"], body["tax"], body["total"], body["discount"]) == (375_000, 37_500, 412_500, 3_000)
    assert response["Location"] == body["url"]
    order = Order.objects.get(number=body["number"])
    assert order.quote == quote and order.notes == "承認済み"
    assert api.get(f"/api/v1/quotes/{quote.number}/").json()["order"] == order.number


def test_accepting_again_is_409_with_the_existing_order(api, colleague_api, quote):
    first = accept(api, quote.number).json()

    again = accept(colleague_api, quote.number)

    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["type"] == "quote-not-acceptable"
    assert again.json()["reason"] == "accepted" and again.json()["order"] == first["number"]
    assert Order.objects.count() == 1


def test_the_same_idempotency_key_replays_the_201(api, quote):
    first = accept(api, quote.number, HTTP_IDEMPOTENCY_KEY="accept-1")
    replay = accept(api, quote.number, HTTP_IDEMPOTENCY_KEY="accept-1")

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("make_unacceptable", "reason", "detail_says"),
    [
        (lambda q: quote_decline(quote=q, actor=Actor.system("t")), "declined", "declined"),
        (lambda q: Quote.objects.filter(pk=q.pk).update(status=Quote.Status.EXPIRED), "expired", "expired"),
        (lambda q: quote_revise(quote=q, actor=Actor.system("t")), "superseded", "-R2"),
    ],
)
def test_declined_expired_and_superseded_quotes_answer_409_saying_which(api, quote, make_unacceptable, reason, detail_says):
    make_unacceptable(quote)

    response = accept(api, quote.number, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "quote-not-acceptable" and body["reason"] == reason
    assert detail_says in body["detail"]
    assert not Order.objects.exists()


def test_a_po_number_already_used_is_409(api, quote):
    api.post("/api/v1/orders/", order_body(po_number="PO-1"), format="json")

    response = accept(api, quote.number, {"po_number": "PO-1"})

    assert response.status_code == 409 and response.json()["type"] == "duplicate-po-number"
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.SENT


def test_an_invalid_body_is_a_validation_problem_and_changes_nothing(api, quote):
    response = accept(api, quote.number, {"po_number": "x" * 65})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "po_number"
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.SENT


def test_without_a_token_it_is_401(client, quote):
    assert client.get(f"/api/v1/quotes/{quote.number}/").status_code == 401
    assert client.post(f"/api/v1/quotes/{quote.number}/accept/").status_code == 401


def test_the_quote_endpoints_are_in_the_schema(api):
    schema = api.get("/api/schema/")

    assert "/api/v1/quotes/{number}/accept/" in schema.content.decode()
