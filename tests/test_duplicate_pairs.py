"""Suspected duplicate pairs in the backlog: linked both ways, keep one and reject the other, never lose both by accident."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from orders.models import Order, ReviewReason
from orders.permissions import ActionRefused
from orders.services.duplicates import order_keep_one_of_pair
from orders.services.review import order_reject
from orders.services.transitions import Actor
from tests.backlog_support import held_order, helper, make_staff, order_desk, signed_in  # noqa: F401

pytestmark = pytest.mark.django_db

Status = Order.Status
DUPLICATE = [ReviewReason.SUSPECTED_DUPLICATE]


@pytest.fixture
def pair(customer, catalog):
    """The original and a resubmission minutes later, both waiting (the original for the customer's manual approval)."""
    original = held_order(customer, catalog, reasons=[ReviewReason.MANUAL_APPROVAL], po_number="PO-0412", age=timedelta(minutes=20))
    again = held_order(customer, catalog, reasons=DUPLICATE, po_number="po-0412 rev2", age=timedelta(minutes=15))
    again.possible_duplicates.add(original)
    return original, again


def status(order) -> str:
    return Order.objects.get(pk=order.pk).status


def in_english(client, user):
    signed_in(client, user)
    client.post("/i18n/setlang/", {"language": "en", "next": "/backlog/"})
    return client


def test_each_order_of_a_pair_links_to_the_other(client, order_desk, pair):
    original, again = pair
    in_english(client, order_desk)

    for order, other in ((original, again), (again, original)):
        page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
        link = f'<a href="{reverse("orders:detail", args=[other.number])}">{other.number}</a>'
        assert re.search(r"Possible duplicate of\s+" + re.escape(link), page)


def test_the_held_order_says_which_order_it_repeats_and_what_would_release_it(client, order_desk, pair):
    original, again = pair
    in_english(client, order_desk)

    page = client.get(reverse("orders:detail", args=[again.number])).content.decode()

    assert f"The same lines as {original.number} (PO PO-0412" in page
    assert "Keep one order of the pair and reject the other" in page


def test_keeping_one_rejects_the_other_and_approves_the_kept_one_held_only_for_the_suspicion(pair, order_desk):
    original, again = pair
    original.review_reasons = DUPLICATE
    original.save()

    kept, rejected = order_keep_one_of_pair(keep=original, reject=again, actor=Actor.staff(order_desk))

    assert (status(kept), status(rejected)) == (Status.APPROVED, Status.REJECTED)
    assert Order.objects.get(pk=again.pk).status_reason == f"duplicate of {original.number}"


def test_keeping_an_order_held_for_more_strikes_only_the_suspicion(pair, order_desk):
    original, again = pair
    again.review_reasons = [*DUPLICATE, ReviewReason.QUANTITY_OVER_CAP]
    again.save()

    kept, _rejected = order_keep_one_of_pair(keep=again, reject=original, actor=Actor.staff(order_desk))

    kept = Order.objects.get(pk=kept.pk)
    assert kept.status == Status.NEEDS_REVIEW and kept.review_reasons == [ReviewReason.QUANTITY_OVER_CAP]
    assert status(original) == Status.REJECTED


def test_keep_one_from_the_order_page_in_one_action(client, order_desk, pair):
    original, again = pair
    signed_in(client, order_desk)

    response = client.post(reverse("orders:keep_one", args=[again.number]), {"keep": original.number, "reject": again.number})

    assert response.status_code == 302
    assert (status(original), status(again)) == (Status.NEEDS_REVIEW, Status.REJECTED)  # the original still waits for its manual approval


@pytest.mark.parametrize("field", ["keep", "reject"])
def test_keep_one_refuses_an_order_outside_the_pair_and_changes_nothing(client, order_desk, pair, customer, catalog, field):
    original, again = pair
    stranger = held_order(customer, catalog, reasons=DUPLICATE, po_number="PO-OTHER")
    signed_in(client, order_desk)
    data = {"keep": original.number, "reject": again.number, field: stranger.number}

    client.post(reverse("orders:keep_one", args=[again.number]), data, follow=True)

    assert {status(order) for order in (original, again, stranger)} == {Status.NEEDS_REVIEW}


def test_a_helper_cannot_keep_one_when_the_other_needs_the_order_desk(client, helper, pair):
    original, again = pair
    original.review_reasons = [ReviewReason.OVER_CREDIT_LIMIT]
    original.save()

    with pytest.raises(ActionRefused):
        order_keep_one_of_pair(keep=original, reject=again, actor=Actor.staff(helper))

    assert (status(original), status(again)) == (Status.NEEDS_REVIEW, Status.NEEDS_REVIEW)  # both or neither


def test_rejecting_the_last_order_of_a_pair_needs_an_explicit_confirmation(pair, order_desk):
    original, again = pair
    desk = Actor.staff(order_desk)
    order_reject(order=again, actor=desk, reason="重複")

    with pytest.raises(ActionRefused, match=again.number):
        order_reject(order=original, actor=desk, reason="重複")
    assert status(original) == Status.NEEDS_REVIEW

    order_reject(order=original, actor=desk, reason="顧客が両方取り消し", confirm_last_of_pair=True)
    assert status(original) == Status.REJECTED


def test_the_order_page_asks_for_the_confirmation_and_refuses_without_it(client, order_desk, pair):
    original, again = pair
    order_reject(order=again, actor=Actor.staff(order_desk), reason="重複")
    signed_in(client, order_desk)
    page = client.get(reverse("orders:detail", args=[original.number])).content.decode()
    assert 'name="confirm_last_of_pair"' in page

    client.post(reverse("orders:reject", args=[original.number]), {"reason": "重複"})
    assert status(original) == Status.NEEDS_REVIEW

    client.post(reverse("orders:reject", args=[original.number]), {"reason": "重複", "confirm_last_of_pair": "1"})
    assert status(original) == Status.REJECTED


def test_a_bulk_rejection_of_both_rejects_one_and_refuses_the_last(client, order_desk, pair):
    original, again = pair
    signed_in(client, order_desk)

    response = client.post(reverse("orders:bulk"), {"action": "reject", "orders": [again.pk, original.pk], "reason": "重複"})

    assert (status(again), status(original)) == (Status.REJECTED, Status.NEEDS_REVIEW)
    page = response.content.decode()
    assert page.count('data-result="ok"') == 1 and page.count('data-result="refused"') == 1


def test_an_order_whose_pair_is_completed_is_rejected_without_confirmation(pair, order_desk):
    original, again = pair
    Order.objects.filter(pk=original.pk).update(status=Status.COMPLETED)

    order_reject(order=again, actor=Actor.staff(order_desk), reason="重複")

    assert status(again) == Status.REJECTED


def test_the_admin_shows_the_pair_read_only_without_offering_every_order(client, pair):
    original, again = pair
    admin = make_staff("root-admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    signed_in(client, admin)

    page = client.get(reverse("admin:orders_order_change", args=[again.pk])).content.decode()

    assert original.number in page
    assert 'name="possible_duplicates"' not in page
