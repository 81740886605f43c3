"""Who may do what on the backlog pages: every action for the owner role, another role, and anonymous.

Owner roles are order_desk (all orders) and helper (simple reasons only);
sales is the "other role"; anonymous users are sent to sign in. Nothing
changes for a refused request.
"""

from datetime import timedelta

from django.utils import timezone

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


# A failed order is not a helper's to retry: see the action × role × state matrix below.
OWNER_CASES = [(role, action) for role in ("order_desk", "helper", "manager") for action in ACTIONS if (role, action) != ("helper", "retry")]


@pytest.mark.parametrize("role, action", OWNER_CASES)
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
    client.post(reverse("orders:reject", args=[simple.number]), {"reason": "duplicate"})
    second = client.post(reverse("orders:next"))

    assert first["Location"] == reverse("orders:detail", args=[simple.number])
    assert second["Location"] == reverse("orders:backlog")


def test_the_helper_set_is_exactly_the_simple_reasons(helper, order_desk):
    assert HELPER_REASONS == {ReviewReason.SUSPECTED_DUPLICATE, ReviewReason.QUANTITY_OVER_CAP, ReviewReason.MANUAL_APPROVAL}
    for code in ReviewReason.values:
        order = Order(status=Order.Status.NEEDS_REVIEW, review_reasons=[code])
        assert user_may_handle(order_desk, order)
        assert user_may_handle(helper, order) == (code in HELPER_REASONS)
    for status in (Order.Status.FAILED, Order.Status.RECEIVED, Order.Status.PROVISIONING):
        assert not user_may_handle(helper, Order(status=status, review_reasons=[]))


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


def test_an_order_someone_else_holds_shows_who_and_its_actions_are_disabled(client, customer, catalog, order_desk, helper):
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP])
    order_claim(order=order, user=helper)
    client.force_login(order_desk)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert f"{helper.username} さんが担当中です" in page
    assert 'id="save-lines-button"' not in page and 'name="quantity_SRA-1Y"' not in page
    for marker in ('id="approve-button"', 'id="reject-button"', 'id="cancel-button"'):
        tag = page[page.index(marker) :].split(">", 1)[0]
        assert "disabled" in tag, marker
    assert 'name="override_reason"' not in page or "disabled" in page[page.index('name="override_reason"') :].split(">", 1)[0]
    assert reverse("orders:take_over", args=[order.number]) not in page  # only a manager takes over


def test_a_manager_sees_take_over_on_an_order_someone_else_holds_and_takes_it(client, customer, catalog, helper, manager):
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP])
    order_claim(order=order, user=helper)
    client.force_login(manager)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert reverse("orders:take_over", args=[order.number]) in page
    client.post(reverse("orders:take_over", args=[order.number]))

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "disabled" not in page[page.index('id="approve-button"') :].split(">", 1)[0]
    order.refresh_from_db()
    assert order.claimed_by == manager


def test_take_over_is_refused_to_other_roles(client, customer, catalog, helper, order_desk):
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP])
    order_claim(order=order, user=helper)
    client.force_login(order_desk)

    response = client.post(reverse("orders:take_over", args=[order.number]))

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.claimed_by == helper


def test_next_on_the_page_of_the_order_i_hold_skips_it_and_does_not_bring_it_back_at_once(client, customer, catalog, order_desk):
    first = held_order(customer, catalog, po_number="A", age=timedelta(hours=5))
    second = held_order(customer, catalog, po_number="B", age=timedelta(hours=1))
    client.force_login(order_desk)

    assert client.post(reverse("orders:next"))["Location"] == reverse("orders:detail", args=[first.number])
    assert client.post(reverse("orders:next"))["Location"] == reverse("orders:detail", args=[first.number])  # still mine: back to it
    assert client.post(reverse("orders:next"), {"skip": first.number})["Location"] == reverse("orders:detail", args=[second.number])
    assert client.post(reverse("orders:next"), {"skip": second.number})["Location"] == reverse("orders:detail", args=[first.number])
    assert Order.objects.filter(claimed_by=order_desk).count() == 1


def test_signing_in_with_a_password_reaches_the_backlog(client):
    make_staff("kobayashi", "order_desk", password=PASSWORD)
    assert client.post(reverse("login"), {"username": "kobayashi", "password": PASSWORD}).status_code == 302
    assert client.get(reverse("orders:backlog")).status_code == 200


# --- Every staff action × role × order state (issue 15: a helper could cancel orders outside the backlog) ---
#
# The oracle below is the rule written out on its own, independently of orders.permissions:
# an order is in the backlog when it waits for a decision (needs_review, failed) or is stuck
# in a moving state; helpers act only on orders waiting for review whose reasons are all
# simple; each action has the states it applies to. Everything else changes nothing.

FRESH, STUCK = timedelta(seconds=5), timedelta(hours=2)
# state name → (status, review reasons, age, moved through provisioning before failing)
STATES = {
    **{f"{status}": (status, [], FRESH, False) for status in sorted(Order.MOVING_STATUSES)},
    **{f"{status}-stuck": (status, [], STUCK, False) for status in sorted(Order.MOVING_STATUSES)},
    "needs_review-simple": (Order.Status.NEEDS_REVIEW, [ReviewReason.QUANTITY_OVER_CAP], FRESH, False),
    "needs_review-senior": (Order.Status.NEEDS_REVIEW, [ReviewReason.OVER_CREDIT_LIMIT], FRESH, False),
    "failed-before-provisioning": (Order.Status.FAILED, [], FRESH, False),
    "failed-in-provisioning": (Order.Status.FAILED, [], FRESH, True),
    "completed": (Order.Status.COMPLETED, [], FRESH, False),
    "rejected": (Order.Status.REJECTED, [], FRESH, False),
    "cancelled": (Order.Status.CANCELLED, [], FRESH, False),
}
CANCELLABLE = {"received", "validated", "approved", "needs_review", "failed"}


def expected_to_succeed(action: str, role: str, state: str) -> bool:
    status, reasons, age, provisioned = STATES[state]
    waiting = status in ("needs_review", "failed")
    in_backlog = waiting or age == STUCK
    for_helpers = status == "needs_review" and reasons == [ReviewReason.QUANTITY_OVER_CAP]
    role_may = role in ("order_desk", "manager") or (role == "helper" and for_helpers)
    if action == "release":  # giving back one's own claim is always allowed
        return True
    if action == "take_over":  # a colleague holds it
        return role == "manager" and in_backlog
    applies = {
        "claim": in_backlog,
        "next": in_backlog,
        "approve": status == "needs_review",
        "reject": status == "needs_review",
        "edit": status == "needs_review",
        "bulk-approve": status == "needs_review",
        "bulk-reject": status == "needs_review",
        "retry": status == "failed" or (in_backlog and status != "needs_review"),
        "bulk-retry": status == "failed" or (in_backlog and status != "needs_review"),
        "cancel": in_backlog and status in CANCELLABLE and not provisioned,
    }[action]
    return role_may and applies


MATRIX_ACTIONS = ["claim", "next", "release", "take_over", "approve", "reject", "edit", "retry", "cancel", "bulk-approve", "bulk-reject", "bulk-retry"]


def matrix_order(customer, catalog, state: str, po_number: str) -> Order:
    status, reasons, age, provisioned = STATES[state]
    order = held_order(customer, catalog, status=status, reasons=reasons, age=age, po_number=po_number)
    if provisioned:
        from orders.models import OrderEvent

        OrderEvent.objects.create(order=order, actor_label="pipeline", from_status="approved", to_status="provisioning")
        OrderEvent.objects.create(order=order, actor_label="pipeline", from_status="provisioning", to_status="failed")
    return order


def post_action(client, action: str, order: Order):
    data = {
        "approve": {"override_reason": "checked"},
        "reject": {"reason": "withdrawn"},
        "cancel": {"reason": "withdrawn"},
        "edit": {"quantity_SRA-1Y": "5"},
    }.get(action, {})
    if action == "next":
        return client.post(reverse("orders:next"))
    if action.startswith("bulk-"):
        return client.post(reverse("orders:bulk"), {"action": action[5:], "orders": [order.pk], "reason": "checked"})
    return client.post(reverse(f"orders:{action}", args=[order.number]), data)


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return order.status, order.claimed_by_id, tuple(order.lines.values_list("sku", "quantity")), order.events.count()


@pytest.mark.parametrize("role", ["order_desk", "helper", "manager"])
@pytest.mark.parametrize("action", MATRIX_ACTIONS)
def test_every_action_acts_only_on_orders_this_role_may_handle_in_their_current_state(client, customer, catalog, action, role):
    user = make_staff(f"{role}-user", role)
    colleague = make_staff("colleague", "order_desk")
    client.force_login(user)
    wrong = []
    for index, state in enumerate(STATES):
        Order.objects.all().delete()  # one order at a time, so that Next has only this one to take
        order = matrix_order(customer, catalog, state, po_number=f"PO-{index}")
        if action in ("release", "take_over"):
            holder = user if action == "release" else colleague
            Order.objects.filter(pk=order.pk).update(claimed_by=holder, claimed_at=timezone.now())
        before = snapshot(order)

        response = post_action(client, action, order)

        changed = snapshot(order) != before
        assert response.status_code in (200, 302, 403), (state, response.status_code)
        if changed != expected_to_succeed(action, role, state):
            wrong.append(f"{state}: {'changed' if changed else 'unchanged'} (HTTP {response.status_code})")
    assert not wrong, f"{action} by {role}: " + "; ".join(wrong)


@pytest.mark.parametrize("action", MATRIX_ACTIONS)
def test_a_role_outside_the_backlog_changes_no_order_in_any_state(client, customer, catalog, sales, action):
    client.force_login(sales)
    for index, state in enumerate(STATES):
        order = matrix_order(customer, catalog, state, po_number=f"PO-{index}")
        before = snapshot(order)

        response = post_action(client, action, order)

        assert response.status_code == 403, (state, response.status_code)
        assert snapshot(order) == before, state
