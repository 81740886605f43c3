"""Claiming backlog orders, so that two people never work on the same order.

A claim is `Order.claimed_by` + `claimed_at`. It lapses by itself after
BACKLOG_CLAIM_IDLE_MINUTES without activity: a helper who went to lunch does
not block an order for the afternoon. Claims are not status changes; they are
recorded in the timeline all the same.
"""

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.backlog import backlog_orders, claim_is_active, is_in_backlog, unclaimed_q
from orders.models import Order, OrderEvent
from orders.permissions import ActionRefused, ensure_may_handle, handleable_by, user_is_senior
from orders.services.transitions import Actor, record_event

# How many candidates the SQLite fallback of Next tries per round before looking again.
_CANDIDATES_PER_ROUND = 20


def ensure_not_claimed_by_other(order: Order, user) -> None:
    """Refuse when someone else holds an active claim on the order."""
    if claim_is_active(order) and order.claimed_by_id != user.pk:
        raise ActionRefused(
            _("%(user)s is working on this order.") % {"user": order.claimed_by.get_username()}
        )


def order_claim(*, order: Order, user) -> Order:
    """Claim the order for the user (or refresh the user's own claim)."""
    ensure_may_handle(user, order)
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("claimed_by").get(pk=order.pk)
        if not is_in_backlog(order):
            raise ActionRefused(_("This order no longer needs a person."))
        ensure_not_claimed_by_other(order, user)
        refreshing = order.claimed_by_id == user.pk
        order.claimed_by = user
        order.claimed_at = timezone.now()
        order.save(update_fields=["claimed_by", "claimed_at"])
        if not refreshing:
            record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="claimed", data={"claim": "claimed"})
    return order


def order_release(*, order: Order, user) -> Order:
    """Give the order back to the pile. The claimer may, and so may a senior taking over a stale desk."""
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("claimed_by").get(pk=order.pk)
        if order.claimed_by_id is None:
            return order
        if order.claimed_by_id != user.pk and claim_is_active(order) and not user_is_senior(user):
            raise ActionRefused(_("Only the person who claimed an order, the order desk or a manager can release it."))
        previous = order.claimed_by.get_username()
        order.claimed_by = None
        order.claimed_at = None
        order.save(update_fields=["claimed_by", "claimed_at"])
        record_event(
            order=order, actor=Actor.staff(user), action=OrderEvent.Action.RELEASED, reason="released", data={"claim": "released", "was": previous}
        )
    return order


def order_claim_touch(*, order: Order, user) -> None:
    """Keep the user's own claim alive while they work on the order (a compare-and-set, no event)."""
    Order.objects.filter(pk=order.pk, claimed_by=user).update(claimed_at=timezone.now())


def order_claim_next(*, user) -> Order | None:
    """Claim the oldest unclaimed backlog order this user may handle; None when nothing is left.

    Many people press Next at the same moment in a surge. On PostgreSQL each
    caller locks its candidate with SELECT … FOR UPDATE SKIP LOCKED, so
    concurrent callers pass over each other's rows instead of queueing behind
    them or taking the same one. SQLite has no row locks: there a
    compare-and-set update that only succeeds while the order is still
    unclaimed decides, and a loser tries the next candidate.
    """
    if connection.vendor == "postgresql":
        return _claim_next_skip_locked(user)
    return _claim_next_compare_and_set(user)


def _candidates(user, now):
    orders = handleable_by(user, backlog_orders(now=now)).filter(unclaimed_q(now))
    return orders.order_by("created_at", "id")


def _claim_next_skip_locked(user) -> Order | None:
    now = timezone.now()
    with transaction.atomic():
        order = _candidates(user, now).select_for_update(skip_locked=True, of=("self",)).first()
        if order is None:
            return None
        order.claimed_by = user
        order.claimed_at = now
        order.save(update_fields=["claimed_by", "claimed_at"])
        record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="claimed with Next", data={"claim": "next"})
    return order


def _claim_next_compare_and_set(user) -> Order | None:
    while True:
        now = timezone.now()
        candidate_ids = list(_candidates(user, now).values_list("pk", flat=True)[:_CANDIDATES_PER_ROUND])
        if not candidate_ids:
            return None
        for order_id in candidate_ids:
            with transaction.atomic():
                won = Order.objects.filter(unclaimed_q(now), pk=order_id).update(claimed_by=user, claimed_at=now)
                if won:
                    order = Order.objects.get(pk=order_id)
                    record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="claimed with Next", data={"claim": "next"})
                    return order
