"""The backlog's filters, search and sort (django-filter), applied to `backlog_orders`."""

import functools

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from licensing.models import Customer
from orders.backlog import AgeBand, active_claim_q, age_band_ranges, stuck_q, unclaimed_q
from orders.models import Order, ReviewReason
from orders.permissions import reason_q


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

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.now = timezone.now()

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
        """The filters that leave orders out, with their values (sorting does not)."""
        self.is_valid()
        return {name: value for name, value in self.form.cleaned_data.items() if name != "sort" and value not in (None, "")}

    @property
    def qs(self):
        orders = super().qs
        if not self.form.cleaned_data.get("sort"):
            orders = self.sorted_by(orders, "sort", "oldest")  # the longest wait comes up first
        return orders

    def search(self, orders, name, value):
        return search_orders(orders, value)

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

    def sorted_by(self, orders, name, value):
        return orders.order_by(*SORTS[value])


def search_orders(orders, value: str):
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
    customer_ids = list(Customer.objects.filter(Q(code__iexact=value) | Q(name__icontains=value)).values_list("pk", flat=True))
    return orders.filter(Q(number=value.upper()) | Q(po_number__icontains=value) | Q(customer_id__in=customer_ids))


SORTS = {
    "oldest": ("created_at", "id"),
    "newest": ("-created_at", "-id"),
    "total_desc": ("-total", "created_at", "id"),
    "total_asc": ("total", "created_at", "id"),
}
