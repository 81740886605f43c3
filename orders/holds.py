"""Why an order waits for a person, and what would release it: one explanation per review reason.

The codes are what the rules stored (Order.review_reasons); the numbers are
read now, from the same functions the rules use (the credit exposure, the
add-on excess, the duplicate links), so an explanation never goes stale after
an edit or a change of the customer's limit. Texts are in the reader's
language (Japanese or English).
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from licensing.selectors import AddonExcess
from orders.credit import credit_exposure
from orders.models import Order, ReviewReason
from orders.rules import addon_seats_over_base
from orders.templatetags.backlog_tags import day


@dataclass(frozen=True)
class HoldExplanation:
    code: str
    label: str
    found: str  # what the rule finds, with the numbers
    release: str  # what would release the order


def yen(amount: int) -> str:
    return f"¥{amount:,}"


def order_hold_explanations(*, order: Order) -> list[HoldExplanation]:
    """One explanation per reason the order is held for, in the order the rules give them."""
    labels = dict(ReviewReason.choices)
    explain = {
        ReviewReason.OVER_CREDIT_LIMIT: _credit,
        ReviewReason.QUANTITY_OVER_CAP: _quantity,
        ReviewReason.ADDON_EXCEEDS_BASE: _addon,
        ReviewReason.PROVISIONING_REFUSED: _provisioning,
        ReviewReason.SUSPECTED_DUPLICATE: _duplicate,
        ReviewReason.UNKNOWN_SKU: _unknown_sku,
        ReviewReason.INACTIVE_SKU: _inactive_sku,
        ReviewReason.PRICE_DIFFERS_FROM_QUOTE: _price,
        ReviewReason.MANUAL_APPROVAL: _manual,
    }
    explanations = []
    for code in order.review_reasons or []:
        found, release = explain[code](order) if code in explain else ("", "")
        explanations.append(HoldExplanation(code=code, label=str(labels.get(code, code)), found=found, release=release))
    return explanations


def _credit(order: Order) -> tuple[str, str]:
    exposure = credit_exposure(customer=order.customer, order=order)
    numbers = {
        "total": yen(exposure.total),
        "limit": yen(exposure.limit),
        "committed": yen(exposure.committed),
        "unpaid": yen(exposure.unpaid),
        "since": day(exposure.unpaid_since.date()),
        "this": yen(exposure.this_order),
        "over": yen(exposure.over_by),
    }
    if exposure.fits:
        return (
            _("Within the credit limit now: exposure %(total)s of %(limit)s (approved %(committed)s, unpaid since %(since)s %(unpaid)s, this order %(this)s).")
            % numbers,
            _("Nothing holds it on credit any more: approve it."),
        )
    return (
        _("Over the credit limit by %(over)s: exposure %(total)s (approved %(committed)s, unpaid since %(since)s %(unpaid)s, this order %(this)s) against a limit of %(limit)s.")
        % numbers,
        _("Released when it fits: raise the customer's credit limit to at least %(total)s or reduce the order by %(over)s. Approving another held order of this customer judges it again.")
        % numbers,
    )


def _quantity(order: Order) -> tuple[str, str]:
    cap = settings.ORDER_REVIEW_MAX_QUANTITY
    over = [line for line in order.lines.all() if line.quantity > cap]
    numbers = {"lines": ", ".join(f"{line.sku} × {line.quantity:,}" for line in over), "cap": f"{cap:,}"}
    if not over:
        return _("No line is over the cap of %(cap)s seats any more.") % numbers, _("Approve it.")
    return (
        _("%(lines)s: over the per-order cap of %(cap)s seats.") % numbers,
        _("Reduce each line to %(cap)s seats or fewer (the rules run again), or approve it after checking with the customer.") % numbers,
    )


def _excess_text(excess: list[AddonExcess]) -> str:
    return _(", ").join(
        _("%(addon)s add-on seats would be %(addon_seats)s on %(base_seats)s %(base)s base seats (%(excess)s over)")
        % {
            "addon": item.addon_family,
            "addon_seats": f"{item.addon_seats:,}",
            "base": item.base_family,
            "base_seats": f"{item.base_seats:,}",
            "excess": f"{item.excess:,}",
        }
        for item in excess
    )


def _addon(order: Order) -> tuple[str, str]:
    excess = addon_seats_over_base(order)
    if not excess:
        return _("Base seats cover the add-on seats now."), _("Approve it.")
    return (
        _("%(excess)s.") % {"excess": _excess_text(excess)},
        _("Reduce the add-on seats or add base seats to the order. Approving does not help: licensing never provisions add-on seats beyond base seats."),
    )


def _provisioning(order: Order) -> tuple[str, str]:
    excess = addon_seats_over_base(order)
    if excess:
        return (
            _("Licensing refused the seats: %(excess)s.") % {"excess": _excess_text(excess)},
            _("Reduce the add-on seats or add base seats to the order, then approve it again."),
        )
    detail = order.status_reason.removeprefix(f"{ReviewReason.PROVISIONING_REFUSED}: ")
    return _("Licensing refused the seats: %(detail)s") % {"detail": detail}, _("Correct what licensing refused, then approve it again.")


def _duplicate(order: Order) -> tuple[str, str]:
    twins = list(order.possible_duplicates.order_by("created_at"))
    if not twins:
        return _("The same lines as an earlier order of this customer."), _("Reject it, or approve it if the customer confirms it is a separate order.")
    found = _(", ").join(
        _("%(number)s (PO %(po)s, %(status)s)") % {"number": twin.number, "po": twin.po_number, "status": twin.get_status_display()}
        for twin in twins
    )
    return (
        _("The same lines as %(orders)s: a resubmission under a PO number in another form, or within minutes.") % {"orders": found},
        _("Keep one order of the pair and reject the other, or approve it if the customer confirms it is a separate order."),
    )


def _unknown_sku(order: Order) -> tuple[str, str]:
    lines = [line for line in order.lines.select_related("product") if line.product.sku != line.sku]
    return (
        _("%(skus)s: the product's SKU has changed in the catalog.") % {"skus": ", ".join(line.sku for line in lines) or "—"},
        _("Replace the line with a product on sale, or remove it."),
    )


def _inactive_sku(order: Order) -> tuple[str, str]:
    lines = [line for line in order.lines.select_related("product") if not line.product.is_active]
    return (
        _("%(skus)s: no longer sold.") % {"skus": ", ".join(line.sku for line in lines) or "—"},
        _("Replace the line with a product on sale, or remove it."),
    )


def _price(order: Order) -> tuple[str, str]:
    quote = order.quote.number if order.quote_id else "—"
    return (
        _("The order's prices differ from accepted quote %(quote)s.") % {"quote": quote},
        _("Check the prices with sales; approve it with the order's prices, or reject it."),
    )


def _manual(order: Order) -> tuple[str, str]:
    return _("Every order of this customer waits for a person."), _("Approve it after checking the order.")
