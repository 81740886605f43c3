"""Who may do what on the backlog pages: every action for the owner role, another role, and anonymous.

Owner roles are order_desk (all orders) and helper (simple reasons only);
sales is the "other role"; anonymous users are sent to sign in. Nothing
changes for a refused request.
"""

from datetime import timedelta

import pytest
from django.urls import reverse

from orders.models import Order, ReviewReason
from orders.permissions import HELPER_REASONS, user_may_handle
from orders.services.claims import order_claim
from tests.backlog_support import PASSWORD, held_order, helper, make_staff, manager, order_desk, sales  # noqa: F401

pytestmark = pytest.mark.django_db


def _state(order: Order) -> tuple:
    order.refresh_from_db()
    return order.status, order.claimed_by_id, order.total, order.events.count()


# action → (order status to start from, POST data or None for GET, check that the action took effect)
ACTIONS = {
    "backlog": (Order.Status.NEEDS_REVIEW, None, None),
    "detail": (Order.Status.NEEDS_REVIEW, None, None),
    "quote_pdf": (Order.Status.NEEDS_REVIEW, None, None),
    "next": (Order.Status.NEEDS_REVIEW, {}, lambda order, user: order.claimed_by_id == user.pk),
    "claim": (Order.Status.NEEDS_REVIEW, {}, lambda order, user: order.claimed_by_id == user.pk),
    "release": (Order.Status.NEEDS_REVIEW, {}, lambda order, user: order.claimed_by_id is None),
    "approve": (Order.Status.NEEDS_REVIEW, {"override_reason": "checked with sales"}, lambda order, user: order.status == "approved"),
    "reject": (Order.Status.NEEDS_REVIEW, {"reason": "customer withdrew"}, lambda order, user: order.status == "rejected"),
    "retry": (Order.Status.FAILED, {}, lambda order, user: order.status == "received"),
    "cancel": (Order.Status.NEEDS_REVIEW, {"reason": "duplicate"}, lambda order, user: order.status == "cancelled"),
    "edit": (Order.Status.NEEDS_REVIEW, {"quantity_SRA-1Y": "5"}, lambda order, user: order.lines.get().quantity == 5),
    "bulk": (Order.Status.NEEDS_REVIEW, {"action": "approve", "reason": "checked"}, lambda order, user: order.status == "approved"),
}


def url_for(action: str, order: Order) -> str:
    if action in ("backlog", "next", "bulk"):
        return reverse(f"orders:{action}")
    return reverse(f"orders:{action}", args=[order.number])


def call(client, action: str, order: Order):
    status, data, _check = ACTIONS[action]
    url = url_for(action, order)
    if data is None:
        return client.get(url)
    if action == "bulk":
        data = {**data, "orders": [order.pk]}
    return client.post(url, data)


def prepare(action: str, customer, catalog, user, reasons=(ReviewReason.MANUAL_APPROVAL,)) -> Order:
    status = ACTIONS[action][0]
    order = held_order(customer, catalog, status=status, reasons=reasons)
    if action == "release" and user is not None:
        order_claim(order=order, user=user)
    return order


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ["order_desk", "helper", "manager"])
def test_owner_roles_may_do_every_action(client, customer, catalog, action, role):
    user = make_staff(f"{role}-user", role)
    order = prepare(action, customer, catalog, user)
    client.force_login(user)

    response = call(client, action, order)

    assert response.status_code in (200, 302), response.status_code
    assert "/accounts/login/" not in response.get("Location", "")
    check = ACTIONS[action][2]
    if check is not None:
        order.refresh_from_db()
        assert check(order, user), f"{action} by {role} did not take effect: {order.status}"


@pytest.mark.parametrize("action", ACTIONS)
def test_another_role_gets_403_and_nothing_changes(client, customer, catalog, sales, order_desk, action):
    order = prepare(action, customer, catalog, order_desk)
    before = _state(order)
    client.force_login(sales)

    response = call(client, action, order)

    assert response.status_code == 403
    assert _state(order) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_is_sent_to_sign_in_and_nothing_changes(client, customer, catalog, order_desk, action):
    order = prepare(action, customer, catalog, order_desk)
    before = _state(order)

    response = call(client, action, order)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert _state(order) == before


ORDER_ACTIONS = ["claim", "approve", "reject", "retry", "cancel", "edit"]


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_a_helper_posting_directly_cannot_act_on_an_over_credit_order(client, customer, catalog, helper, action):
    order = prepare(action, customer, catalog, None, reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    before = _state(order)
    client.force_login(helper)

    response = call(client, action, order)

    assert response.status_code == 403
    assert _state(order) == before


def test_a_helper_cannot_approve_an_order_with_one_simple_and_one_credit_reason(client, customer, catalog, helper):
    order = held_order(customer, catalog, reasons=[ReviewReason.MANUAL_APPROVAL, ReviewReason.OVER_CREDIT_LIMIT])
    client.force_login(helper)

    response = client.post(reverse("orders:approve", args=[order.number]), {"override_reason": "looks fine"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.NEEDS_REVIEW


def test_a_helpers_bulk_approve_refuses_the_over_credit_order_and_approves_the_others(client, customer, catalog, helper):
    customer.credit_limit = 100_000  # each order ¥66,000: the credit order does not fit once the other is approved
    customer.save()
    simple = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP], po_number="PO-S")
    credit = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], po_number="PO-C")
    client.force_login(helper)

    response = client.post(reverse("orders:bulk"), {"action": "approve", "orders": [simple.pk, credit.pk], "reason": "ok"})

    assert response.status_code == 200
    simple.refresh_from_db()
    credit.refresh_from_db()
    assert (simple.status, credit.status) == (Order.Status.APPROVED, Order.Status.NEEDS_REVIEW)
    page = response.content.decode()
    assert page.count('data-result="ok"') == 1 and page.count('data-result="refused"') == 1


def test_next_never_gives_a_helper_an_order_with_a_senior_reason(client, customer, catalog, helper):
    held_order(customer, catalog, reasons=[ReviewReason.PRICE_DIFFERS_FROM_QUOTE], po_number="PO-OLD", age=timedelta(hours=5))
    simple = held_order(customer, catalog, reasons=[ReviewReason.SUSPECTED_DUPLICATE], po_number="PO-NEW")
    client.force_login(helper)

    first = client.post(reverse("orders:next"))
    second = client.post(reverse("orders:next"))

    assert first["Location"] == reverse("orders:detail", args=[simple.number])
    assert second["Location"] == reverse("orders:backlog")


def test_the_helper_set_is_exactly_the_simple_reasons(helper, order_desk):
    assert HELPER_REASONS == {ReviewReason.SUSPECTED_DUPLICATE, ReviewReason.QUANTITY_OVER_CAP, ReviewReason.MANUAL_APPROVAL}
    for code in ReviewReason.values:
        order = Order(review_reasons=[code])
        assert user_may_handle(order_desk, order)
        assert user_may_handle(helper, order) == (code in HELPER_REASONS)


def test_the_helper_sees_the_approve_button_disabled_for_a_credit_exception(client, customer, catalog, helper):
    order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    client.force_login(helper)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    button = page[page.index('id="approve-button"') :].split(">", 1)[0]
    assert "disabled" in button


def test_someone_elses_active_claim_blocks_the_action_but_a_lapsed_one_does_not(client, customer, catalog, order_desk, settings):
    colleague = make_staff("yamada", "order_desk")
    order = held_order(customer, catalog)
    order_claim(order=order, user=colleague)
    client.force_login(order_desk)

    client.post(reverse("orders:reject", args=[order.number]), {"reason": "no"})
    order.refresh_from_db()
    assert order.status == Order.Status.NEEDS_REVIEW

    Order.objects.filter(pk=order.pk).update(claimed_at=order.claimed_at - timedelta(minutes=settings.BACKLOG_CLAIM_IDLE_MINUTES + 1))
    client.post(reverse("orders:reject", args=[order.number]), {"reason": "no"})
    order.refresh_from_db()
    assert order.status == Order.Status.REJECTED


def test_signing_in_with_a_password_reaches_the_backlog(client):
    make_staff("kobayashi", "order_desk", password=PASSWORD)
    assert client.post(reverse("login"), {"username": "kobayashi", "password": PASSWORD}).status_code == 302
    assert client.get(reverse("orders:backlog")).status_code == 200
