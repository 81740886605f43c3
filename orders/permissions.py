"""Who may handle which order in the backlog — the one place this is decided.

Order-desk admins and managers may handle every order in the backlog. Helpers
from other departments join during a surge with narrower rights: only orders
waiting for review whose review reasons are ALL simple ones. Credit-limit,
price and catalogue exceptions, failed orders and orders stuck in the pipeline
stay with the order desk. Views, bulk actions, Next and the services all ask
here; each service then checks that its action applies to the order's state.
"""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from orderdesk.roles import HELPER, MANAGER, ORDER_DESK, has_role
from orders.models import Order, ReviewReason

# A helper may decide an order only when every one of its reasons is in this set.
HELPER_REASONS = frozenset({ReviewReason.SUSPECTED_DUPLICATE, ReviewReason.QUANTITY_OVER_CAP, ReviewReason.MANUAL_APPROVAL})
# Everything else needs an order-desk admin or a manager.
SENIOR_REASONS = frozenset(ReviewReason.values) - HELPER_REASONS


class ActionRefused(Exception):
    """A backlog action that cannot be done; `message` says why, in the user's language."""

    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


class NotPermitted(ActionRefused, PermissionDenied):
    """The user's role does not allow this order (a 403 when it reaches Django)."""


def user_is_senior(user) -> bool:
    return has_role(user, ORDER_DESK, MANAGER)


def user_may_take_over(user) -> bool:
    """Take an order someone else is working on: managers only (the order desk may put it back in the pile)."""
    return has_role(user, MANAGER)


def user_may_use_backlog(user) -> bool:
    return has_role(user, ORDER_DESK, MANAGER, HELPER)


def reasons_for_helpers(reasons) -> bool:
    return set(reasons) <= HELPER_REASONS


def order_is_for_helpers(order) -> bool:
    """Waiting for review, and held only for simple reasons.

    An order without reasons is not a helper's: it failed or got stuck in the
    pipeline (a technical problem), or it is on its way and needs no one.
    """
    reasons = order.review_reasons or []
    return order.status == Order.Status.NEEDS_REVIEW and bool(reasons) and reasons_for_helpers(reasons)


def user_may_handle(user, order: Order) -> bool:
    """May this user's role claim, edit, approve, reject, retry or cancel this order?

    The role's side only: whether the action applies to the order's state
    (in the backlog, waiting for review, failed, …) each service checks.
    """
    return may_handle_check(user)(order)


def may_handle_check(user) -> Callable[[Order], bool]:
    """`user_may_handle` for one user and many orders (a page of the list): the roles are read once."""
    if user_is_senior(user):
        return lambda order: True
    if has_role(user, HELPER):
        return order_is_for_helpers
    return lambda order: False


def ensure_may_handle(user, order: Order) -> None:
    if not user_may_handle(user, order):
        raise NotPermitted(_("Only the order desk or a manager may handle an order held for these reasons."))


def reason_q(code: str) -> Q:
    """Orders whose review_reasons include `code` (the queryset must come through `with_reasons_text`).

    PostgreSQL answers with jsonb containment (@>). SQLite has no containment
    lookup: there the JSON array is matched as text, '"CODE"' with its quotes.
    """
    if connection.features.supports_json_field_contains:
        return Q(review_reasons__contains=[code])
    return Q(reasons_text__contains=f'"{code}"')


def with_reasons_text(orders):
    if connection.features.supports_json_field_contains:
        return orders
    return orders.annotate(reasons_text=Cast("review_reasons", output_field=TextField()))


def handleable_by(user, orders):
    """Narrow a queryset of orders to the ones the user may handle."""
    if user_is_senior(user):
        return orders
    if not has_role(user, HELPER):
        return orders.none()
    return for_helpers(orders)


def for_helpers(orders):
    """The orders of `order_is_for_helpers`, as a filter."""
    orders = with_reasons_text(orders).filter(status=Order.Status.NEEDS_REVIEW).exclude(review_reasons=[])
    for code in SENIOR_REASONS:
        orders = orders.exclude(reason_q(code))
    return orders
