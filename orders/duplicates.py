"""Which earlier orders a new order repeats, and whether that is a resubmission or a new order.

A customer who sends the same purchase order twice (a retry after a timeout
without its Idempotency-Key, a fax typed in again, a PO re-sent as "rev 2")
must not get its seats twice: the later order is a suspected duplicate and
waits for a person. A customer who orders the same seats again under a new PO
number is ordering again, and must not wait.

An earlier order of the same customer with the same lines (each SKU with the
same quantity), not rejected or cancelled, is

- a *resubmission* (the rule holds the later order, SUSPECTED_DUPLICATE) when
  its PO number is the same once both are normalised (`normalize_po_number`)
  and it came within ORDER_DUPLICATE_WINDOW_HOURS, or when it came within
  ORDER_DUPLICATE_SAME_LINES_MINUTES whatever the PO number;
- a *repeat* otherwise, within ORDER_DUPLICATE_WINDOW_HOURS: the later order
  passes, and both orders' timelines get a note (orders.services.duplicates).

Only earlier orders are looked at: the first order of a pair is the original
and goes on; the later one waits. Both are linked (Order.possible_duplicates)
so that a person sees the pair from either side.
"""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from orders.models import Order, OrderLine
from orders.permissions import ActionRefused

# A cancelled or rejected order is not one the customer could receive twice,
# and rejecting the last other order of a pair would leave the customer with none.
GONE_STATUSES = (Order.Status.REJECTED, Order.Status.CANCELLED)

# Dashes people type for "-" (after NFKC, which already folds the full-width hyphen-minus).
_DASHES = re.compile("[\u2010-\u2015\u2212\u30fc\uff70]")
# Separators a PO number is written with or without: "PO-2026-0412", "PO 2026 0412", "PO_2026_0412".
_SEPARATORS = re.compile(r"[\s_-]+")
# A trailing revision mark (after NFKC and casefolding, so "ＲＥＶ．２" is "rev.2"):
# a Latin one after a separator ("-R1", " rev.2", "_v3", "/ver2"; never glued to
# the number, or "ORDER12" would lose its "r12"), a Japanese one with or
# without ("改訂2", "訂正版", "修正", "再送", "第2版"), or one in brackets ("(2)", "（改）", "【再送】").
_REVISION_MARK = re.compile(
    r"(?:[-_./#\s]+(?:(?:rev(?:ision)?|ver(?:sion)?)\.?\s*\d*|[rv]\.?\s*\d+)"
    r"|[-_./#\s]*(?:第\d+版|改訂?\d*|訂正(?:版)?\d*|修正(?:版)?\d*|再送(?:信)?\d*|再発行\d*)"
    r"|\s*[(\[【]\s*(?:\d+|(?:rev|ver|r|v)\.?\s*\d*|第\d+版|改訂?\d*|訂正|修正|再送|再発行)\s*[)\]】])$"
)


def normalize_po_number(po_number: str) -> str:
    """The PO number as a person reads it: "ＰＯ－２０２６－０４１２ Rev.2" and "po 2026 0412" are the same.

    Unicode NFKC (full-width letters, digits and punctuation to their usual
    form, half-width katakana to full-width), case folded, dashes unified,
    trailing revision marks taken off one after another, then the separators
    (spaces, dashes, underscores) removed.
    """
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", po_number).casefold()).strip()
    while (stripped := _REVISION_MARK.sub("", text).rstrip()) and stripped != text:
        text = stripped
    return _SEPARATORS.sub("", text)


class TwinKind:
    RESUBMISSION = "resubmission"  # held as a suspected duplicate
    REPEAT = "repeat"  # passes, noted on both timelines


@dataclass(frozen=True)
class Twin:
    """An earlier order with the same lines as the order being judged."""

    order_id: int
    number: str
    po_number: str
    created_at: datetime
    kind: str
    why: str  # "po_number" (the same PO in another form), "minutes" (within the short window), "" for a repeat


def classify(*, order: Order, po_number: str, created_at: datetime) -> tuple[str, str] | None:
    """(kind, why) of an earlier order with the same lines, or None when it is too old to matter."""
    age = order.created_at - created_at
    if age > timedelta(hours=settings.ORDER_DUPLICATE_WINDOW_HOURS):
        return None
    if normalize_po_number(po_number) == normalize_po_number(order.po_number):
        return TwinKind.RESUBMISSION, "po_number"
    if age <= timedelta(minutes=settings.ORDER_DUPLICATE_SAME_LINES_MINUTES):
        return TwinKind.RESUBMISSION, "minutes"
    return TwinKind.REPEAT, ""


def twins_lookup(orders: Sequence[Order], *, lines_of: Callable[[Order], Sequence[OrderLine]]) -> Callable[[Order], list[Twin]]:
    """For a batch of orders: one query for the candidates, one for their lines; returns the per-order lookup.

    Candidates: the same customer, the same total (the same lines at catalog
    prices give the same total: a cheap first filter), created before the order
    within the window, not rejected or cancelled. `lines_of` gives an order's
    own lines (the rules have them loaded).
    """
    if not orders:
        return lambda order: []
    window = timedelta(hours=settings.ORDER_DUPLICATE_WINDOW_HOURS)
    candidates = list(
        Order.objects.filter(
            customer_id__in={order.customer_id for order in orders},
            total__in={order.total for order in orders},
            created_at__gte=min(order.created_at for order in orders) - window,
            created_at__lte=max(order.created_at for order in orders),
        )
        .exclude(status__in=GONE_STATUSES)
        .order_by("created_at", "id")
        .values_list("id", "customer_id", "number", "po_number", "total", "created_at")
    )
    collected: dict[int, set] = defaultdict(set)
    rows = OrderLine.objects.filter(order_id__in=[row[0] for row in candidates]).values_list("order_id", "sku", "quantity")
    for order_id, sku, quantity in rows:
        collected[order_id].add((sku, quantity))
    line_sets = {order_id: frozenset(lines) for order_id, lines in collected.items()}

    def lookup(order: Order) -> list[Twin]:
        wanted = frozenset((line.sku, line.quantity) for line in lines_of(order))
        twins = []
        for candidate_id, customer_id, number, po_number, total, created_at in candidates:
            earlier = created_at < order.created_at or (created_at == order.created_at and candidate_id < order.pk)
            if customer_id != order.customer_id or total != order.total or not earlier or line_sets.get(candidate_id) != wanted:
                continue
            classified = classify(order=order, po_number=po_number, created_at=created_at)
            if classified is not None:
                kind, why = classified
                twins.append(Twin(candidate_id, number, po_number, created_at, kind=kind, why=why))
        return twins

    return lookup


def pair_is_gone_without(order: Order) -> bool:
    """Would rejecting `order` leave none of its pair alive? True when it has duplicates and all are rejected or cancelled."""
    statuses = list(order.possible_duplicates.values_list("status", flat=True))
    return bool(statuses) and all(status in GONE_STATUSES for status in statuses)


def ensure_not_last_of_pair(order: Order, *, confirmed: bool) -> None:
    """Refuse to reject the last living order of a suspected pair unless the person confirmed it."""
    if confirmed or not pair_is_gone_without(order):
        return
    others = ", ".join(order.possible_duplicates.order_by("number").values_list("number", flat=True))
    raise ActionRefused(
        _(
            "%(number)s is the last order of its duplicate pair (%(others)s already rejected or cancelled): "
            "rejecting it too leaves the customer with no order. Confirm to reject it anyway."
        )
        % {"number": order.number, "others": others}
    )
