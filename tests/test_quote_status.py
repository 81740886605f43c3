"""Quote status rules: approval, sending, revisions, expiry at the Japan-time boundary, acceptance."""

import subprocess
import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection

from orders.models import Order
from orders.services.from_quote import order_from_quote
from orders.services.transitions import Actor
from quotes.models import JAPAN, Quote, QuoteEvent
from orderdesk.audit import Actor
from quotes.services.documents import quote_render_by_number
from quotes.services.editing import japan_today, quote_revise, quote_update
from quotes.services.errors import QuoteActionNotAllowed, QuoteNotAcceptable
from quotes.services.pricing import LineInput
from quotes.services.workflow import (
    quote_acceptance_refusal,
    quote_approve,
    quote_decline,
    quote_expire_due,
    quote_return,
    quote_send,
    quote_submit_for_approval,
)
from quotes.tasks import expire_quotes
from tests.factories import draft_quote, sent_quote, staff_user

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture
def quote(catalog, customer):
    return sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50), (catalog["RDA-1Y"], 50)])


# --- approval ---------------------------------------------------------------------


def test_a_discount_over_the_threshold_needs_a_manager_before_sending(catalog, customer, settings, client):
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 10
    seller, boss = staff_user("seller", "sales"), staff_user("boss", "manager")
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 11, 0)], user=seller)
    assert quote.needs_approval

    with pytest.raises(QuoteActionNotAllowed):
        quote_send(quote=quote, actor=Actor.staff(seller))
    quote_submit_for_approval(quote=quote, actor=Actor.staff(seller))
    client.force_login(seller)
    assert client.post(f"/quotes/{quote.number}/approve/").status_code == 403
    client.force_login(boss)
    client.post(f"/quotes/{quote.number}/approve/", {"comment": "OK for this customer"})
    quote.refresh_from_db()
    assert quote.status == Quote.Status.APPROVED and quote.approved_by == boss
    sent = quote_send(quote=quote, actor=Actor.staff(seller))
    assert sent.status == Quote.Status.SENT
    assert [e.action for e in sent.events.all()] == ["created", "submitted", "approved", "sent"]
    assert sent.events.get(action="approved").actor == boss


def test_a_manager_cannot_approve_the_discount_of_a_quote_they_wrote_another_manager_can(catalog, customer, settings, client):
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 10
    author, colleague = staff_user("boss", "manager"), staff_user("other-boss", "manager")
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 20, 0)], user=author)
    quote_submit_for_approval(quote=quote, actor=Actor.staff(author))

    with pytest.raises(QuoteActionNotAllowed, match="別のマネージャー"):
        quote_approve(quote=quote, actor=Actor.staff(author))
    client.force_login(author)
    page = client.get(f"/quotes/{quote.number}/").content.decode()
    assert f'action="/quotes/{quote.number}/approve/"' not in page
    client.post(f"/quotes/{quote.number}/approve/", {"comment": "self-approved"})
    quote.refresh_from_db()
    assert quote.status == Quote.Status.PENDING_APPROVAL and quote.approved_by is None

    quote_approve(quote=quote, actor=Actor.staff(colleague))
    quote.refresh_from_db()
    assert quote.status == Quote.Status.APPROVED and quote.approved_by == colleague


def test_a_manager_who_edited_a_sellers_quote_cannot_approve_it(catalog, customer, settings):
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 10
    seller, boss = staff_user("seller", "sales"), staff_user("boss", "manager")
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 5, 0)], user=seller)
    quote = quote_update(
        quote=quote, actor=Actor.staff(boss), lines=[LineInput(catalog["SRA-1Y"], 50, 25, 0)],
        valid_until=quote.valid_until, payment_terms=quote.payment_terms,
    )  # fmt: skip
    quote_submit_for_approval(quote=quote, actor=Actor.staff(seller))

    with pytest.raises(QuoteActionNotAllowed):
        quote_approve(quote=quote, actor=Actor.staff(boss))


def test_the_approval_queue_does_not_offer_a_manager_their_own_quote(catalog, customer, settings, client):
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 10
    author, seller = staff_user("boss", "manager"), staff_user("seller", "sales")
    own = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 20, 0)], user=author)
    theirs = draft_quote(customer=customer, lines=[(catalog["RDA-1Y"], 50, 20, 0)], user=seller)
    for quote in (own, theirs):
        quote_submit_for_approval(quote=quote, actor=SYSTEM)
    client.force_login(author)

    page = client.get("/quotes/approvals/").content.decode()

    assert f'action="/quotes/{theirs.number}/approve/"' in page
    assert f'action="/quotes/{own.number}/approve/"' not in page
    assert own.number in page


def test_a_discount_at_the_threshold_is_sent_without_approval(catalog, customer, settings):
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 10
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 10, 0)])

    assert not quote.needs_approval
    with pytest.raises(QuoteActionNotAllowed):
        quote_submit_for_approval(quote=quote, actor=SYSTEM)
    assert quote_send(quote=quote, actor=SYSTEM).status == Quote.Status.SENT


def test_returning_needs_a_comment_and_makes_a_draft_again(catalog, customer):
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 30, 0)])
    quote_submit_for_approval(quote=quote, actor=SYSTEM)

    with pytest.raises(QuoteActionNotAllowed):
        quote_return(quote=quote, actor=SYSTEM, comment="  ")
    returned = quote_return(quote=quote, actor=SYSTEM, comment="最大20%まで")

    assert returned.status == Quote.Status.DRAFT
    assert returned.events.last().reason == "最大20%まで"


def test_editing_an_approved_quote_withdraws_the_approval(catalog, customer):
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 50, 30, 0)])
    quote_submit_for_approval(quote=quote, actor=SYSTEM)
    quote_approve(quote=quote, actor=SYSTEM)

    edited = quote_update(
        quote=quote, lines=[LineInput(catalog["SRA-1Y"], 50, 40)], actor=SYSTEM, valid_until=quote.valid_until, payment_terms="x"
    )

    assert edited.status == Quote.Status.DRAFT and edited.approved_by is None
    with pytest.raises(QuoteActionNotAllowed):
        quote_send(quote=edited, actor=SYSTEM)


# --- revisions ------------------------------------------------------------------


def test_a_sent_quote_is_never_edited(quote, catalog):
    before = list(quote.lines.values_list("sku", "quantity", "amount"))

    with pytest.raises(QuoteActionNotAllowed):
        quote_update(quote=quote, lines=[LineInput(catalog["SRA-1Y"], 1)], actor=SYSTEM, valid_until=quote.valid_until, payment_terms="x")

    quote.refresh_from_db()
    assert quote.status == Quote.Status.SENT
    assert list(quote.lines.values_list("sku", "quantity", "amount")) == before


def test_revising_makes_a_new_revision_and_supersedes_the_old_one(quote, catalog):
    sent_total = quote.total

    revision = quote_revise(quote=quote, actor=SYSTEM)
    quote_update(
        quote=revision, lines=[LineInput(catalog["SRA-1Y"], 100)], actor=SYSTEM, valid_until=revision.valid_until, payment_terms="x"
    )

    quote.refresh_from_db()
    assert revision.number == f"{quote.number}-R2" and revision.base_number == quote.base_number
    assert revision.supersedes == quote and revision.status == Quote.Status.DRAFT
    assert quote.status == Quote.Status.SUPERSEDED
    assert quote.total == sent_total and quote.lines.count() == 2  # the sent revision is untouched
    assert quote_revise(quote=quote_send(quote=revision, actor=SYSTEM), actor=SYSTEM).number == f"{quote.number}-R3"
    with pytest.raises(QuoteActionNotAllowed):
        quote_revise(quote=quote, actor=SYSTEM)  # already superseded


def test_the_revision_suffix_is_printed_on_the_pdf(quote, tmp_path, requires_tool):
    requires_tool("pdftotext")
    revision = quote_send(quote=quote_revise(quote=quote, actor=SYSTEM), actor=SYSTEM)
    path = tmp_path / "r2.pdf"
    path.write_bytes(quote_render_by_number(number=revision.number).content)

    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout

    assert f"{quote.base_number}-R2" in text
    assert "御見積書" in text and "（案）" not in text and "見本" not in text and "DRAFT" not in text


def test_a_draft_pdf_says_it_is_a_draft(catalog, customer, tmp_path, requires_tool):
    requires_tool("pdftotext")
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)])
    path = tmp_path / "draft.pdf"
    path.write_bytes(quote_render_by_number(number=quote.number).content)

    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout

    assert "御見積書（案）" in text and "見本" in text and "DRAFT" in text


# --- expiry -----------------------------------------------------------------------


def _japan(day, hour, minute, second=0):
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=JAPAN)


def test_a_quote_is_valid_until_23_59_japan_time_and_expires_at_00_00(catalog, customer):
    last_day = japan_today() + timedelta(days=3)
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)], valid_until=last_day)

    late_evening = _japan(last_day, 23, 59, 59)
    midnight = _japan(last_day + timedelta(days=1), 0, 0)

    assert quote_acceptance_refusal(quote, now=late_evening) is None
    assert quote_expire_due(now=late_evening) == 0
    assert quote_acceptance_refusal(quote, now=midnight).reason == "expired"
    assert quote_expire_due(now=midnight) == 1
    quote.refresh_from_db()
    assert quote.status == Quote.Status.EXPIRED
    assert quote.events.last().actor_label == "expiry"
    assert quote_expire_due(now=midnight) == 0  # a second run changes nothing


def test_the_boundary_is_japan_time_even_when_the_server_runs_in_utc(catalog, customer, settings):
    settings.TIME_ZONE = "UTC"
    last_day = japan_today() + timedelta(days=3)
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)], valid_until=last_day)

    # 15:00 UTC is 00:00 the next day in Japan.
    assert quote.is_past_validity(_japan(last_day, 23, 59, 59)) is False
    assert quote.is_past_validity(_japan(last_day + timedelta(days=1), 0, 0).astimezone(JAPAN)) is True
    assert quote.expires_at.isoformat().endswith("00:00:00+09:00")


def test_the_daily_task_expires_quotes_whose_last_day_is_over(catalog, customer):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)])
    Quote.objects.filter(pk=quote.pk).update(valid_until=japan_today() - timedelta(days=1))
    still_valid = sent_quote(customer=customer, lines=[(catalog["RDA-1Y"], 1)], valid_until=japan_today())

    assert expire_quotes() == 1

    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.EXPIRED
    assert Quote.objects.get(pk=still_valid.pk).status == Quote.Status.SENT


def test_an_expired_quote_cannot_be_sent_again_but_can_be_revised(catalog, customer):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)])
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.EXPIRED)

    revision = quote_revise(quote=quote, actor=SYSTEM)

    assert revision.valid_until > japan_today()
    assert quote_send(quote=revision, actor=SYSTEM).status == Quote.Status.SENT


# --- acceptance -------------------------------------------------------------------


def test_accepting_creates_one_order_with_the_quotes_prices(quote):
    first = order_from_quote(quote=quote, actor=Actor.system("tests"))
    second = order_from_quote(quote=quote, actor=Actor.system("tests"))

    assert first.created and not second.created
    assert second.order.pk == first.order.pk
    assert Order.objects.filter(quote=quote).count() == 1
    order = first.order
    assert order.status == Order.Status.RECEIVED and order.source == Order.Source.QUOTE
    assert order.po_number == quote.number and order.quote == quote
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    assert quote.events.get(action=QuoteEvent.Action.ACCEPTED).data == {"order": order.number}


@pytest.mark.parametrize(
    ("make_unacceptable", "reason"),
    [
        (lambda q: quote_decline(quote=q, actor=SYSTEM), "declined"),
        (lambda q: Quote.objects.filter(pk=q.pk).update(status=Quote.Status.EXPIRED), "expired"),
        (lambda q: Quote.objects.filter(pk=q.pk).update(valid_until=japan_today() - timedelta(days=1)), "expired"),
        (lambda q: quote_revise(quote=q, actor=SYSTEM), "superseded"),
    ],
)
def test_declined_expired_and_superseded_quotes_cannot_be_accepted(quote, make_unacceptable, reason):
    make_unacceptable(quote)

    with pytest.raises(QuoteNotAcceptable) as refused:
        order_from_quote(quote=quote, actor=Actor.system("tests"))

    assert refused.value.reason == reason
    assert not Order.objects.exists()
    if reason == "superseded":
        assert refused.value.successor == f"{quote.number}-R2"


def test_a_draft_cannot_be_accepted(catalog, customer):
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 1)])

    with pytest.raises(QuoteNotAcceptable) as refused:
        order_from_quote(quote=quote, actor=Actor.system("tests"))

    assert refused.value.reason == "not_sent"


def test_accepting_another_customers_quote_is_404(quote, outsider_api):
    response = outsider_api.post(f"/api/v1/quotes/{quote.number}/accept/", {}, format="json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_acceptances_make_one_order(catalog, customer, requires_postgres):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)])
    barrier = threading.Barrier(2)
    results, errors = [], []

    def accept():
        try:
            barrier.wait()
            results.append(order_from_quote(quote=quote, actor=Actor.system("tests")))
        except Exception as error:  # noqa: BLE001 — collected and asserted below
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert Order.objects.filter(quote=quote).count() == 1
