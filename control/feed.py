"""The order feed: every order, newest first, searched and filtered, in pages by keyset.

A page is "the next 50 orders older (or newer) than this one", found by the
index on created_at, not "page 2,000 of 2,000": the first page and the last
cost the same, and an order arriving meanwhile does not shift the pages. The
cursor names an order by (created_at, id), written as two whole numbers.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.backlog import OPEN_STATUSES, line_items_subquery
from orders.filters import search_orders
from orders.models import Order
from orders.templatetags.backlog_tags import reason_label, status_label, when, yen


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    pk: int

    def __str__(self) -> str:
        return f"{int(self.created_at.timestamp() * 1_000_000)}.{self.pk}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        """"1764580000000000.42" → Cursor; ValueError for anything else."""
        micros, _sep, pk = text.partition(".")
        if not (micros.isdigit() and pk.isdigit()):
            raise ValueError(text)
        return cls(created_at=datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC), pk=int(pk))


class CursorField(forms.CharField):
    default_error_messages = {"invalid": _("This page link is damaged: start again from the newest orders.")}

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return Cursor.parse(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class CursorFilter(django_filters.Filter):
    field_class = CursorField

    def filter(self, orders, value):
        return orders  # the page is cut by feed_page, not here


class FeedFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Order no., PO no. or customer")}),
    )
    status = django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[("open", _("Open (not in a final state)")), *Order.Status.choices],
        method="with_status",
        empty_label=_("All statuses"),
    )
    source = django_filters.ChoiceFilter(label=_("Source"), choices=Order.Source.choices, empty_label=_("All sources"))
    received_from = django_filters.DateFilter(
        label=_("Received from"), method="received_on_or_after", widget=forms.DateInput(attrs={"type": "date"})
    )
    received_to = django_filters.DateFilter(
        label=_("Received until"), method="received_on_or_before", widget=forms.DateInput(attrs={"type": "date"})
    )
    before = CursorFilter(label=_("Older than"))
    after = CursorFilter(label=_("Newer than"))

    class Meta:
        model = Order
        fields = []

    @classmethod
    @functools.cache
    def _form_class(cls):
        return super().get_form_class(cls(None))

    def get_form_class(self):
        """Built once per process, as the backlog's (orders.filters.BacklogFilter): nothing in it depends on the request."""
        return self._form_class()

    def search(self, orders, name, value):
        return search_orders(orders, value)

    def with_status(self, orders, name, value):
        if value == "open":
            return orders.filter(status__in=OPEN_STATUSES)
        return orders.filter(status=value)

    def received_on_or_after(self, orders, name, value):
        return orders.filter(created_at__gte=_japan_midnight(value))

    def received_on_or_before(self, orders, name, value):
        return orders.filter(created_at__lt=_japan_midnight(value) + timedelta(days=1))

    def is_valid(self):
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        if valid and data.get("received_from") and data.get("received_to") and data["received_from"] > data["received_to"]:
            self.form.add_error("received_to", _("The end date is before the start date."))
            return False
        return valid

    def filtering(self) -> dict:
        """The filters in force (not the page), as query parameters: for links that keep them."""
        names = ("q", "status", "source", "received_from", "received_to")
        return {name: self.data[name] for name in names if self.data.get(name)}


def _japan_midnight(day) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day), timezone.get_current_timezone())


# The columns of one feed row, in FeedRow's order; the page loads nothing else.
ROW_COLUMNS = (
    "pk", "number", "created_at", "customer__code", "customer__name", "po_number", "source", "status",
    "review_reasons", "total", "status_changed_at", "line_items",
)  # fmt: skip


@dataclass(slots=True)
class FeedRow:
    pk: int
    number: str
    created_at: datetime
    customer_code: str
    customer_name: str
    po_number: str
    source: str
    status: str
    review_reasons: list[str]
    total: int
    status_changed_at: datetime
    line_items: list
    detail_url: str = ""
    # In the reader's language and Japan time, set by `for_display` (the template only shows them).
    received_text: str = ""
    changed_text: str = ""
    status_text: str = ""
    reason_texts: list = None
    source_text: str = ""
    total_text: str = ""
    lines_text: str = ""  # "SRA-1Y × 50, RDA-1Y × 50", each line kept on one line of the screen

    @property
    def cursor(self) -> str:
        return str(Cursor(self.created_at, self.pk))


@dataclass(frozen=True)
class FeedPage:
    rows: list[FeedRow]
    newer: Cursor | None  # link to the orders newer than this page, if any
    older: Cursor | None  # link to the orders older than this page, if any
    is_newest: bool  # the page starts with the newest order (live mode may run)


def feed_page(orders: QuerySet[Order], *, before: Cursor | None = None, after: Cursor | None = None, size: int) -> FeedPage:
    """One page of `orders`, newest first: the newest, or the `size` before (older than) or after (newer than) a cursor."""
    values = orders.annotate(line_items=line_items_subquery()).values_list(*ROW_COLUMNS)
    if after is not None:
        newer_first = False
        values = values.filter(created_at__gte=after.created_at).exclude(created_at=after.created_at, pk__lte=after.pk)
        values = values.order_by("created_at", "pk")
    else:
        newer_first = True
        if before is not None:
            values = values.filter(created_at__lte=before.created_at).exclude(created_at=before.created_at, pk__gte=before.pk)
        values = values.order_by("-created_at", "-pk")
    found = [_row(columns) for columns in values[: size + 1]]
    more = len(found) > size
    rows = found[:size] if newer_first else list(reversed(found[:size]))
    first, last = (Cursor(rows[0].created_at, rows[0].pk), Cursor(rows[-1].created_at, rows[-1].pk)) if rows else (None, None)
    if after is not None:
        return FeedPage(rows=rows, newer=first if more else None, older=last or after, is_newest=not more)
    return FeedPage(rows=rows, newer=first if before is not None else None, older=last if more else None, is_newest=before is None)


def orders_since(orders: QuerySet[Order], *, after: Cursor, size: int) -> tuple[list[FeedRow], bool]:
    """Live mode: the newest `size` orders newer than `after`, newest first, and whether more arrived than that."""
    values = orders.annotate(line_items=line_items_subquery()).values_list(*ROW_COLUMNS)
    values = values.filter(created_at__gte=after.created_at).exclude(created_at=after.created_at, pk__lte=after.pk)
    found = [_row(columns) for columns in values.order_by("-created_at", "-pk")[: size + 1]]
    return found[:size], len(found) > size


def _row(columns) -> FeedRow:
    row = FeedRow(*columns)
    row.line_items = [(sku, quantity) for _position, sku, quantity in sorted(row.line_items or [])]
    row.detail_url = f"{_detail_base()}{row.number}/"  # one reverse() per process, not two per row
    return row


def for_display(rows: list[FeedRow]) -> list[FeedRow]:
    """Each row's dates, amount, status, reasons and source as text, formatted as on the backlog's pages.

    Fifty rows through the template's filters cost more than the query of the
    page; formatted here once, the template only shows them.
    """
    for row in rows:
        row.received_text, row.changed_text = when(row.created_at), when(row.status_changed_at)
        row.status_text, row.source_text = status_label(row.status), str(SOURCE_LABELS.get(row.source, row.source))
        row.reason_texts = [reason_label(code) for code in row.review_reasons or []]
        row.total_text = yen(row.total)
        row.lines_text = ", ".join(f"{sku}\u00a0×\u00a0{quantity:,}" for sku, quantity in row.line_items)  # no-break spaces
    return rows


SOURCE_LABELS = dict(Order.Source.choices)


@functools.cache
def _detail_base() -> str:
    return reverse("orders:detail", args=["0"]).removesuffix("0/")
