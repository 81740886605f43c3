"""Forms of the backlog pages. They check the input's shape; the services decide what is allowed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from licensing.models import Product
from orders.models import Order


class ApproveForm(forms.Form):
    override_reason = forms.CharField(label=_("Reason for overriding the rule"), max_length=400, required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"),
        max_length=400,
        error_messages={"required": _("Give a reason for the rejection.")},
    )
    confirm_last_of_pair = forms.BooleanField(label=_("Also the last order of its duplicate pair"), required=False)


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
    ACTIONS = [("approve", _("Approve")), ("reject", _("Reject")), ("retry", _("Retry"))]
    MAX_ORDERS = 200

    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    orders = forms.TypedMultipleChoiceField(label=_("Orders"), coerce=int, choices=())
    reason = forms.CharField(label=_("Reason"), max_length=400, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any order id is acceptable in shape; each one is checked (and may be refused) on its own.
        self.fields["orders"].valid_value = lambda value: str(value).isdigit()
        self.fields["orders"].error_messages["required"] = _("Select at least one order.")

    def clean_orders(self):
        ids = self.cleaned_data["orders"]
        if len(ids) > self.MAX_ORDERS:
            raise forms.ValidationError(_("Select at most %(max)d orders at once.") % {"max": self.MAX_ORDERS})
        return list(dict.fromkeys(ids))

    def clean(self):
        data = super().clean()
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
        self.fields["add_sku"].choices = [("", "—")] + [(p.sku, f"{p.sku} {p.name_ja}") for p in on_sale]

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
