"""The quote editor's form: a header and any number of line rows named lines-<n>-<field>.

Rows are added and removed in the browser (htmx), so they are parsed by the
indexes present in the POST rather than through a formset's fixed count.
Prices are never taken from the browser: quotes.services.pricing computes them.
"""

import re
from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext_lazy as _

from licensing.models import Customer, Product
from quotes.models import QuoteLine
from quotes.services.errors import QuoteInvalid
from quotes.services.pricing import MAX_LINES, MAX_QUANTITY, LineInput

_LINE_KEY = re.compile(r"^lines-(\d{1,4})-")


class QuoteHeaderForm(forms.Form):
    customer = forms.CharField(
        label=_("Customer"),
        max_length=250,
        help_text=_("Type a code or part of the name and pick from the list."),
        widget=forms.TextInput(attrs={"list": "customer-options", "autocomplete": "off"}),
    )
    valid_until = forms.DateField(label=_("Valid until"), widget=forms.DateInput(attrs={"type": "date"}))
    payment_terms = forms.CharField(label=_("Payment terms"), max_length=200)
    discount = forms.IntegerField(label=_("Quote discount (yen)"), min_value=0, required=False, initial=0)
    notes = forms.CharField(label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_customer(self) -> Customer:
        # The datalist fills in "CODE"; a person may also type "CODE name".
        code = self.cleaned_data["customer"].strip().split(" ")[0].upper()
        customer = Customer.objects.filter(code=code, is_active=True).first()
        if customer is None:
            raise forms.ValidationError(_("No active customer with code %(code)s."), params={"code": code or "—"})
        return customer

    def clean_discount(self) -> int:
        return self.cleaned_data["discount"] or 0


class QuoteLineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("Product"),
        queryset=Product.objects.filter(is_active=True).prefetch_related("price_tiers").order_by("sku"),
        required=False,
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY, required=False)
    discount_kind = forms.ChoiceField(
        label=_("Discount in"), choices=QuoteLine.DiscountKind.choices, initial=QuoteLine.DiscountKind.PERCENT
    )
    discount_value = forms.IntegerField(label=_("Discount"), min_value=0, required=False)

    def __init__(self, *args, index: int, **kwargs):
        self.index = index
        super().__init__(*args, prefix=f"lines-{index}", **kwargs)

    @property
    def is_blank(self) -> bool:
        return not self.data.get(self.add_prefix("product")) and not self.data.get(self.add_prefix("quantity"))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("product") and not cleaned.get("quantity") and "quantity" not in self.errors:
            self.add_error("quantity", _("Enter a quantity."))
        if cleaned.get("quantity") and not cleaned.get("product") and "product" not in self.errors:
            self.add_error("product", _("Pick a product."))
        return cleaned

    def line_input(self) -> LineInput:
        value = self.cleaned_data.get("discount_value") or 0
        percent = self.cleaned_data["discount_kind"] == QuoteLine.DiscountKind.PERCENT
        return LineInput(
            product=self.cleaned_data["product"],
            quantity=self.cleaned_data["quantity"],
            discount_percent=value if percent else 0,
            discount_yen=0 if percent else value,
        )


@dataclass
class QuoteEditor:
    """The bound header and rows of one submission, and what the services said about them."""

    header: QuoteHeaderForm
    rows: list[QuoteLineForm]
    errors: list[str] = field(default_factory=list)  # not tied to one field

    @classmethod
    def bind(cls, data) -> "QuoteEditor":
        indexes = sorted({int(match.group(1)) for key in data for match in [_LINE_KEY.match(key)] if match})
        editor = cls(header=QuoteHeaderForm(data), rows=[QuoteLineForm(data, index=index) for index in indexes])
        if len(editor.filled_rows) > MAX_LINES:
            editor.errors.append(_("A quote has at most %(max)d lines.") % {"max": MAX_LINES})
        return editor

    @property
    def filled_rows(self) -> list[QuoteLineForm]:
        return [row for row in self.rows if not row.is_blank]

    def is_valid(self) -> bool:
        header_ok = self.header.is_valid()
        rows_ok = all([row.is_valid() for row in self.filled_rows])
        if not self.filled_rows:
            self.errors.append(_("Add at least one line."))
        return header_ok and rows_ok and not self.errors

    def as_data(self) -> dict:
        """An unbound editor's initial values as the browser would post them untouched (to price them)."""
        data = {name: value for name, value in self.header.initial.items() if value is not None}
        for row in self.rows:
            data.update({row.add_prefix(name): value for name, value in row.initial.items() if value is not None})
        return data

    def line_inputs(self) -> list[LineInput]:
        return [row.line_input() for row in self.filled_rows]

    def show(self, invalid: QuoteInvalid) -> None:
        """Put the services' errors next to the fields they name."""
        rows = self.filled_rows
        for name, messages in invalid.errors.items():
            match = re.match(r"^lines\[(\d+)\]\.(\w+)$", name)
            for message in messages:
                if match:
                    row_field = {"discount": "discount_value"}.get(match.group(2), match.group(2))
                    rows[int(match.group(1))].add_error(row_field, message)
                elif name in self.header.fields:
                    self.header.add_error(name, message)
                else:
                    self.errors.append(message)
