"""The backlog's filters, search and sort (django-filter), applied to `backlog_orders`, and the counts they see."""

import functools
from dataclasses import dataclass
from urllib.parse import urlencode

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from licensing.models import Customer
from orders.backlog import CHIP_DIMENSIONS, AgeBand, BacklogCounts, active_claim_q, age_band_ranges, backlog_facts, counts_from_facts, stuck_q, unclaimed_q
from orders.models import Order, ReviewReason
from orders.permissions import handleable_by, reason_q, user_is_senior

# The filters that narrow the list to a search or one customer: the counts group those orders on the spot.
SEARCH_FILTERS = ("q", "customer")
HANDLEABLE, EVERYTHING = "handleable", "all"


class BacklogFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Order no., PO no. or customer")}),
    )
    reason = django_filters.ChoiceFilter(label=_("Reason"), choices=ReviewReason.choices, method="with_reason", empty_label=_("All reasons"))
    state = django_filters.ChoiceFilter(
        label=_("State"),
        choices=[("needs_review", _("Needs review")), ("failed", _("Failed")), ("stuck", _("Stuck"))],
        method="in_state",
        empty_label=_("All states"),
    )
    customer = django_filters.CharFilter(label=_("Customer code"), field_name="customer__code", lookup_expr="iexact")
    age = django_filters.ChoiceFilter(
        label=_("Age"),
        choices=[(AgeBand.FRESH, _("Fresh")), (AgeBand.AGEING, _("Ageing")), (AgeBand.OVERDUE, _("Overdue"))],
        method="in_age_band",
        empty_label=_("Any age"),
    )
    claim = django_filters.ChoiceFilter(
        label=_("Claimed"),
        choices=[("unclaimed", _("Unclaimed")), ("mine", _("Mine"))],
        method="by_claim",
        empty_label=_("Everyone's"),
    )
    # Helpers see what they may handle unless they ask for everything; for the order desk and managers both are the same.
    scope = django_filters.ChoiceFilter(
        label=_("Show"),
        choices=[(HANDLEABLE, _("What I can handle")), (EVERYTHING, _("Everything"))],
        method="in_scope",
        empty_label=None,
    )
    sort = django_filters.ChoiceFilter(
        label=_("Sort"),
        choices=[
            ("oldest", _("Oldest first")),
            ("newest", _("Newest first")),
            ("total_desc", _("Largest total first")),
            ("total_asc", _("Smallest total first")),
        ],
        method="sorted_by",
        empty_label=None,
    )

    class Meta:
        model = Order
        fields = []

    def __init__(self, data=None, *args, user=None, now=None, **kwargs):
        if data is not None and "scope" not in data:
            data = data.copy()
            data["scope"] = self.default_scope(user)
        super().__init__(data, *args, **kwargs)
        self.user = user
        self.now = now or timezone.now()
        self._customer_ids: dict[str, list[int]] = {}

    @staticmethod
    def default_scope(user) -> str:
        """A helper's backlog opens on what they can handle; everyone else's on everything."""
        return EVERYTHING if user is None or user_is_senior(user) else HANDLEABLE

    @property
    def scope_matters(self) -> bool:
        """Whether the viewer sees the choice: only roles that may not handle every order."""
        return not user_is_senior(self.user)

    @classmethod
    @functools.cache
    def _form_class(cls):
        return super().get_form_class(cls(None))

    def get_form_class(self):
        """The form class, built once: django-filter builds a new class and new fields on every request.

        Nothing in the fields depends on the request (fixed choices, labels
        translated when rendered), and each form still copies its fields.
        """
        return self._form_class()

    def narrowing(self) -> dict:
        """The filters that leave orders out, with their values (sorting does not, nor showing everything)."""
        self.is_valid()
        return {
            name: value
            for name, value in self.form.cleaned_data.items()
            if name != "sort" and value not in (None, "") and not (name == "scope" and (value == EVERYTHING or not self.scope_matters))
        }

    def chips(self) -> dict[str, str]:
        """The active chip filters (state, reason, age, claim), with their values."""
        return {name: value for name, value in self.narrowing().items() if name in CHIP_DIMENSIONS}

    def counts(self) -> BacklogCounts:
        """The counts at the top of the page, following these filters (orders.backlog.BacklogCounts)."""
        narrowing = self.narrowing()
        searched = None
        if any(name in narrowing for name in SEARCH_FILTERS):
            searched = self.queryset
            for name in SEARCH_FILTERS:
                if name in narrowing:
                    searched = self.filters[name].filter(searched, narrowing[name])
        facts = backlog_facts(user=self.user, now=self.now, narrowed=searched, exact_mine=narrowing.get("claim") == "mine")
        return counts_from_facts(facts, chips=self.chips(), helpers_only=narrowing.get("scope") == HANDLEABLE)

    @property
    def qs(self):
        orders = super().qs
        if not self.form.cleaned_data.get("sort"):
            orders = self.sorted_by(orders, "sort", "oldest")  # the longest wait comes up first
        return orders

    def search(self, orders, name, value):
        value = value.strip()
        return search_orders(orders, value, customer_ids=self._customers_matching(value) if value else [])

    def _customers_matching(self, value: str) -> list[int]:
        """The customers a search names, read once per request: the list and its counts search the same text."""
        if value not in self._customer_ids:
            self._customer_ids[value] = customers_matching(value)
        return self._customer_ids[value]

    def with_reason(self, orders, name, value):
        return orders.filter(reason_q(value))

    def in_state(self, orders, name, value):
        if value == "stuck":
            return orders.filter(stuck_q(self.now))
        return orders.filter(status=value)

    def in_age_band(self, orders, name, value):
        return orders.filter(age_band_ranges(self.now)[value])

    def by_claim(self, orders, name, value):
        if value == "mine":
            return orders.filter(active_claim_q(self.now), claimed_by=self.user)
        return orders.filter(unclaimed_q(self.now))

    def in_scope(self, orders, name, value):
        return handleable_by(self.user, orders) if value == HANDLEABLE else orders

    def sorted_by(self, orders, name, value):
        return orders.order_by(*SORTS[value])


def customers_matching(value: str) -> list[int]:
    """Ids of the customers whose code is `value` or whose name contains it."""
    return list(Customer.objects.filter(Q(code__iexact=value) | Q(name__icontains=value)).values_list("pk", flat=True))


def search_orders(orders, value: str, *, customer_ids: list[int] | None = None):
    """Orders whose number is `value`, whose PO number contains it, or whose customer's code is it or name contains it.

    The backlog and the order feed search alike. Each arm of the OR can use an
    index, so PostgreSQL reads only the matching orders instead of testing
    every one: the order number by its unique index (numbers are stored in
    capitals), the PO number by the trigram index on its capitals (migration
    0006), the customers as a list of ids read first from their own small table.
    """
    value = value.strip()
    if not value:
        return orders
    if customer_ids is None:
        customer_ids = customers_matching(value)
    return orders.filter(Q(number=value.upper()) | Q(po_number__icontains=value) | Q(customer_id__in=customer_ids))


SORTS = {
    "oldest": ("created_at", "id"),
    "newest": ("-created_at", "-id"),
    "total_desc": ("-total", "created_at", "id"),
    "total_asc": ("total", "created_at", "id"),
}


@dataclass(frozen=True)
class Chip:
    """One count link at the top of the backlog: how many orders a filter value shows, and the link that shows them."""

    label: str
    count: int
    href: str
    kind: str = ""  # its look: total, bad, warn, fresh, ageing, overdue, reason
    current: bool = False


def count_chips(filterset: BacklogFilter, counts: BacklogCounts, params) -> dict[str, list[Chip]]:
    """The count links: totals, states, claims and age bands; one per reason that has orders.

    Each link keeps the other filters and sets its own value (or clears it, when
    it is the current one); the total clears every chip. Labels are translated
    text and links are URLs: the template escapes both.
    """
    active = filterset.chips()
    # The other filters, kept by every link (built once: a page has two dozen links, refreshed every few seconds).
    kept = [(name, value) for name, values in params.lists() for value in values if name not in ("page", *CHIP_DIMENSIONS)]
    chosen = [(name, value) for name, value in active.items()]

    def href(dimension: str | None = None, value: str = "") -> str:
        linked = [] if dimension is None else [(name, current) for name, current in chosen if name != dimension]
        if dimension is not None and active.get(dimension) != value:
            linked.append((dimension, value))
        return f"?{urlencode(kept + linked)}"

    def chip(dimension, value, label, count, kind="") -> Chip:
        return Chip(label=str(label), count=count, href=href(dimension, value), kind=kind, current=active.get(dimension) == value)

    narrowed = bool(filterset.narrowing())
    totals = [
        Chip(label=str(_("in this view") if narrowed else _("in the backlog")), count=counts.total, href=href(), kind="total"),
        chip("state", "needs_review", _("need review"), counts.needs_review),
        chip("state", "failed", _("failed"), counts.failed, "bad" if counts.failed else ""),
        chip("state", "stuck", _("stuck"), counts.stuck, "warn" if counts.stuck else ""),
        chip("claim", "unclaimed", _("unclaimed"), counts.unclaimed),
        chip("claim", "mine", _("claimed by me"), counts.mine),
    ]
    ages = [
        chip("age", AgeBand.FRESH, _("fresh"), counts.by_age[AgeBand.FRESH], "fresh"),
        chip("age", AgeBand.AGEING, _("ageing"), counts.by_age[AgeBand.AGEING], "ageing"),
        chip("age", AgeBand.OVERDUE, _("overdue"), counts.by_age[AgeBand.OVERDUE], "overdue"),
    ]
    labels = dict(ReviewReason.choices)
    reasons = [
        chip("reason", code, labels[code], count, "reason")
        for code, count in counts.by_reason.items()
        if count or active.get("reason") == code
    ]
    return {"totals": totals, "ages": ages, "reasons": reasons}
