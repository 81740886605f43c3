"""Forms of the backlog pages. They check the input's shape; the services decide what is allowed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from licensing.models import Product
from orders.models import BacklogPreference, Order

# "then=next" on a decision: open the next order after it ("approve and next").
THEN_CHOICES = [("", _("Back to the backlog")), ("next", _("The next order"))]


class ApproveForm(forms.Form):
    override_reason = forms.CharField(label=_("Reason for overriding the rule"), max_length=400, required=False)
    then = forms.ChoiceField(choices=THEN_CHOICES, required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"),
        max_length=400,
        error_messages={"required": _("Give a reason for the rejection.")},
    )
    confirm_last_of_pair = forms.BooleanField(label=_("Also the last order of its duplicate pair"), required=False)
    then = forms.ChoiceField(choices=THEN_CHOICES, required=False)


class DensityForm(forms.Form):
    density = forms.ChoiceField(label=_("Rows"), choices=BacklogPreference.Density.choices)


class KeepOneForm(forms.Form):
    """Keep one order of a suspected duplicate pair, reject the other (orders.services.duplicates)."""

    keep = forms.CharField(label=_("Order kept"), max_length=20)
    reject = forms.CharField(label=_("Order rejected"), max_length=20)
    reason = forms.CharField(label=_("Reason for the rejection"), max_length=400, required=False)

    def clean(self):
        data = super().clean()
        if data.get("keep") and data.get("keep") == data.get("reject"):
            raise forms.ValidationError(_("Keep one order and reject another, not the same one."))
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the cancellation"), max_length=400, required=False)


class BulkForm(forms.Form):
    """A bulk action on the selected orders, or on every order matching the list's filters."""

    ACTIONS = [("approve", _("Approve")), ("reject", _("Reject")), ("retry", _("Retry"))]
    SELECTED, MATCHING = "selected", "matching"
    MAX_ORDERS = 200  # picked one by one: a page at most

    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    scope = forms.ChoiceField(
        label=_("Orders"), choices=[(SELECTED, _("The selected orders")), (MATCHING, _("All matching orders"))], required=False
    )
    orders = forms.TypedMultipleChoiceField(label=_("Orders"), coerce=int, choices=(), required=False)
    # For "all matching": the list's filters as a query string, and when the list was shown
    # (orders that came in after that are not what the person saw, and are left out).
    query = forms.CharField(required=False, max_length=2000)
    seen_at = forms.DateTimeField(required=False)
    reason = forms.CharField(label=_("Reason"), max_length=400, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any order id is acceptable in shape; each one is checked (and may be refused) on its own.
        self.fields["orders"].valid_value = lambda value: str(value).isdigit()

    def clean_orders(self):
        ids = self.cleaned_data["orders"]
        if len(ids) > self.MAX_ORDERS:
            raise forms.ValidationError(_("Select at most %(max)d orders at once.") % {"max": self.MAX_ORDERS})
        return list(dict.fromkeys(ids))

    def clean(self):
        data = super().clean()
        data["scope"] = data.get("scope") or self.SELECTED
        if data["scope"] == self.SELECTED and not data.get("orders") and "orders" not in self.errors:
            self.add_error("orders", _("Select at least one order."))
        if data.get("action") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Give a reason for the rejection."))
        return data


class EditLinesForm(forms.Form):
    """One quantity per existing line (0 removes it) and an optional new line."""

    add_sku = forms.ChoiceField(label=_("Add a product"), required=False)
    add_quantity = forms.IntegerField(label=_("Quantity"), min_value=1, required=False)

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order
        self.line_skus = []
        for line in order.lines.all():
            name = f"quantity_{line.sku}"
            self.fields[name] = forms.IntegerField(label=line.sku, min_value=0, initial=line.quantity)
            self.line_skus.append(line.sku)
        on_sale = Product.objects.filter(is_active=True).exclude(sku__in=self.line_skus).order_by("sku")
        self.fields["add_sku"].choices = [("", "—")] + [(p.sku, f"{p.sku} {p.display_name}") for p in on_sale]

    def quantity_fields(self):
        return [self[f"quantity_{sku}"] for sku in self.line_skus]

    def clean(self):
        data = super().clean()
        if data.get("add_sku") and not data.get("add_quantity"):
            self.add_error("add_quantity", _("Give the quantity of the product to add."))
        return data

    def changes(self) -> dict[str, int]:
        changes = {sku: self.cleaned_data[f"quantity_{sku}"] for sku in self.line_skus}
        if self.cleaned_data.get("add_sku"):
            changes[self.cleaned_data["add_sku"]] = self.cleaned_data["add_quantity"]
        return changes


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))
    sheet = forms.CharField(label=_("Sheet (XLSX; the first when empty)"), max_length=100, required=False)

    def clean_file(self):
        from django.conf import settings  # noqa: PLC0415

        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s bytes; at most %(limit)s bytes may be imported at once.")
                % {"size": f"{upload.size:,}", "limit": f"{settings.IMPORT_MAX_FILE_BYTES:,}"}
            )
        return upload


class ExportForm(forms.Form):
    FORMATS = [("csv", "CSV"), ("xlsx", "XLSX")]
    ENCODINGS = [("utf-8", _("UTF-8 (Excel opens it in Japanese)")), ("cp932", _("Shift_JIS (cp932)"))]

    format = forms.ChoiceField(label=_("Format"), choices=FORMATS, initial="csv")
    encoding = forms.ChoiceField(label=_("CSV encoding"), choices=ENCODINGS, initial="utf-8", required=False)
    status = forms.MultipleChoiceField(label=_("Statuses (all when none)"), choices=Order.Status.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)  # fmt: skip
    since = forms.DateField(label=_("Received from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Received until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_encoding(self):
        return self.cleaned_data.get("encoding") or "utf-8"

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end of the range is before its start."))
        return data
