"""Claiming backlog orders, so that two people never work on the same order.

A claim is `Order.claimed_by` + `claimed_at`. It lapses by itself after
BACKLOG_CLAIM_IDLE_MINUTES without activity: a helper who went to lunch does
not block an order for the afternoon. Claims are not status changes; they are
recorded in the timeline all the same.
"""

from collections.abc import Collection
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.backlog import active_claim_q, backlog_orders, claim_is_active, is_in_backlog, unclaimed_q
from orders.models import Order, OrderEvent
from orders.permissions import ActionRefused, NotPermitted, ensure_may_handle, handleable_by, user_is_senior, user_may_take_over
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


def order_take_over(*, order: Order, user) -> Order:
    """A manager takes an order someone else holds (a desk that went home, a stuck decision).

    The holder's claim ends and the manager's begins in one write; the
    timeline says from whom it was taken.
    """
    if not user_may_take_over(user):
        raise NotPermitted(_("Only a manager may take over an order someone else is working on."))
    ensure_may_handle(user, order)
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("claimed_by").get(pk=order.pk)
        if not is_in_backlog(order):
            raise ActionRefused(_("This order no longer needs a person."))
        holder = order.claimed_by.get_username() if claim_is_active(order) and order.claimed_by_id != user.pk else ""
        order.claimed_by = user
        order.claimed_at = timezone.now()
        order.save(update_fields=["claimed_by", "claimed_at"])
        record_event(
            order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="taken over", data={"claim": "taken_over", "from": holder}
        )
    return order


def order_claim_touch(*, order: Order, user) -> None:
    """Keep the user's own claim alive while they work on the order (a compare-and-set, no event)."""
    Order.objects.filter(pk=order.pk, claimed_by=user).update(claimed_at=timezone.now())


@dataclass(frozen=True)
class NextOrder:
    """What Next gave the user: an order (None when nothing is left), and whether they already held it."""

    order: Order | None
    returned: bool = False


def order_next(*, user, skip: Order | None = None, passed_over: Collection[int] = ()) -> NextOrder:
    """Next: back to the order the user still holds, or claim a new one. Nobody piles up claims.

    `skip`: the order on whose page the user pressed Next. If they hold it,
    they pass it over: their claim on it ends, so someone else can take it.
    Otherwise, while they hold any order of the backlog they may handle, Next
    returns them to it (the one waiting longest) instead of claiming another.
    `passed_over`: orders the user skipped earlier; Next offers them again only
    once nothing else is left, so that skipping does not bring the same order back.
    """
    if skip is not None:
        _give_back(order=skip, user=user)
    now = timezone.now()
    held = handleable_by(user, backlog_orders(now=now)).filter(active_claim_q(now), claimed_by=user).order_by("created_at", "id").first()
    if held is not None:
        return NextOrder(order=held, returned=True)
    passed_over = {*passed_over, *([skip.pk] if skip is not None else [])}
    order = order_claim_next(user=user, excluding=passed_over)
    if order is None and passed_over:
        order = order_claim_next(user=user)
    return NextOrder(order=order)


def _give_back(*, order: Order, user) -> None:
    """End the user's own claim on the order, if they still hold it (a compare-and-set)."""
    with transaction.atomic():
        if Order.objects.filter(pk=order.pk, claimed_by=user).update(claimed_by=None, claimed_at=None):
            data = {"claim": "released", "was": user.get_username(), "skipped": True}
            record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.RELEASED, reason="passed over with Next", data=data)


def order_claim_next(*, user, excluding: Collection[int] = ()) -> Order | None:
    """Claim the oldest unclaimed backlog order this user may handle (but `excluding`); None when nothing is left.

    Many people press Next at the same moment in a surge. On PostgreSQL each
    caller locks its candidate with SELECT … FOR UPDATE SKIP LOCKED, so
    concurrent callers pass over each other's rows instead of queueing behind
    them or taking the same one. SQLite has no row locks: there a
    compare-and-set update that only succeeds while the order is still
    unclaimed decides, and a loser tries the next candidate.
    """
    if connection.vendor == "postgresql":
        return _claim_next_skip_locked(user, excluding)
    return _claim_next_compare_and_set(user, excluding)


def _candidates(user, now, excluding: Collection[int] = ()):
    orders = handleable_by(user, backlog_orders(now=now)).filter(unclaimed_q(now))
    if excluding:
        orders = orders.exclude(pk__in=excluding)
    return orders.order_by("created_at", "id")


def _claim_next_skip_locked(user, excluding: Collection[int] = ()) -> Order | None:
    now = timezone.now()
    with transaction.atomic():
        order = _candidates(user, now, excluding).select_for_update(skip_locked=True, of=("self",)).first()
        if order is None:
            return None
        order.claimed_by = user
        order.claimed_at = now
        order.save(update_fields=["claimed_by", "claimed_at"])
        record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="claimed with Next", data={"claim": "next"})
    return order


def _claim_next_compare_and_set(user, excluding: Collection[int] = ()) -> Order | None:
    while True:
        now = timezone.now()
        candidate_ids = list(_candidates(user, now, excluding).values_list("pk", flat=True)[:_CANDIDATES_PER_ROUND])
        if not candidate_ids:
            return None
        for order_id in candidate_ids:
            with transaction.atomic():
                won = Order.objects.filter(unclaimed_q(now), pk=order_id).update(claimed_by=user, claimed_at=now)
                if won:
                    order = Order.objects.get(pk=order_id)
                    record_event(order=order, actor=Actor.staff(user), action=OrderEvent.Action.CLAIMED, reason="claimed with Next", data={"claim": "next"})
                    return order
