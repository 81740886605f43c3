import re

from django.core.validators import RegexValidator
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from licensing.models import PriceTier, Product, Subscription, WorkHoursPolicy
from licensing.selectors import DecisionCode
from orderdesk.text import SINGLE_LINE_PATTERN, refused_character


class PriceTierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceTier
        fields = ["min_quantity", "unit_price"]


class ProductSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="name_ja", help_text="Japanese product name.")
    family = serializers.CharField(help_text="Product line, the same for every term (SRA for SRA-1Y and SRA-3Y).")
    base_family = serializers.CharField(
        help_text="Add-ons: the family of base licenses they run on. A customer's add-on seats of a family, "
        "every term together, never exceed the seats of its base family; more are held and never provisioned. "
        "Empty for a base license."
    )
    price_tiers = PriceTierSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["sku", "name", "name_en", "kind", "family", "base_family", "term_months", "unit", "tax_rate", "price_tiers"]


# A subscription gets a key per order line; the list shows this many of each, the rest are a link away.
KEYS_LISTED_PER_SUBSCRIPTION = 100


class SubscriptionSerializer(serializers.Serializer):
    """Built from customer_subscriptions(): `seats`, `keys_count` and `active_keys` come annotated and prefetched."""

    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name_ja", help_text="Japanese product name.")
    seats = serializers.IntegerField(help_text="Current seats: the sum of the seat ledger.")
    term_start = serializers.DateField()
    term_end = serializers.DateField(help_text="Last day of the term (Japan time).")
    status = serializers.ChoiceField(choices=Subscription.Status.choices)
    keys = serializers.SerializerMethodField(
        help_text=(
            f"License keys that are not revoked, oldest first: the first {KEYS_LISTED_PER_SUBSCRIPTION}. "
            "When `keys_count` is larger, `keys_url` pages through all of them."
        )
    )
    keys_count = serializers.IntegerField(help_text="How many license keys of this subscription are not revoked.")
    keys_url = serializers.SerializerMethodField(help_text="All unrevoked keys, cursor-paginated: `/licenses/{sku}/keys/`.")

    def get_keys(self, subscription) -> list[str]:
        return [license_key.key for license_key in subscription.active_keys]

    def get_keys_url(self, subscription) -> str:
        url = reverse("api:license-keys", kwargs={"sku": subscription.product.sku})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class LicenseKeySerializer(serializers.Serializer):
    key = serializers.CharField()
    issued_at = serializers.DateTimeField()


class LicenseHistoryQuerySerializer(serializers.Serializer):
    """The query parameters of GET /licenses/{sku}/history/."""

    since = serializers.DateTimeField(
        required=False,
        help_text="ISO-8601 moment: only entries at or after it (their `seats_after` still counts every earlier entry). "
        "Without an offset it is Japan time.",
    )


class LedgerEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    quantity = serializers.IntegerField(help_text="Seats added (positive) or removed (negative).")
    seats_after = serializers.IntegerField(help_text="Seats of the subscription after this entry.")
    reason = serializers.CharField()
    reference = serializers.CharField(help_text='What caused the entry, e.g. "order-line:1234".')


class StrictCharField(serializers.CharField):
    """A single line of text: not a number DRF would quietly turn into one (a key sent as 12345678 is a
    client bug), and without control or text-direction characters (orderdesk.text)."""

    default_error_messages = {
        "invalid": _("Send a string."),
        "invalid_character": _("Contains the character {code}, which is not allowed here (control or text-direction characters)."),
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # For the schema's `pattern` (drf-spectacular reads it); to_internal_value refuses such text first.
        self.validators.append(RegexValidator(SINGLE_LINE_PATTERN))

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            # Counted before the white space around it is trimmed, as the schema's maxLength counts.
            self.fail("max_length", max_length=self.max_length)
        value = super().to_internal_value(data)  # white space around it trimmed (a key read from a file with its line break)
        if (code := refused_character(value)) is not None:
            self.fail("invalid_character", code=code)
        return value


class LicenseValidateInputSerializer(serializers.Serializer):
    key = StrictCharField(max_length=64, help_text="A license key such as 7KQ2-M9XD-4TPW-H3CV-SRA7.")
    at = serializers.DateTimeField(
        required=False, help_text="ISO-8601 moment to check; default now. Without an offset it is Japan time."
    )


class LicenseDecisionSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    code = serializers.ChoiceField(choices=DecisionCode.ALL)
    mode = serializers.ChoiceField(
        choices=WorkHoursPolicy.Mode.values,
        allow_null=True,
        help_text="The work-hours policy's mode with OUTSIDE_WORKING_HOURS, else null.",
    )


class MonthField(serializers.CharField):
    """A month as YYYY-MM, to (year, month)."""

    default_error_messages = {"invalid": _("Give the month as YYYY-MM, e.g. 2026-12.")}

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            self.fail("invalid")
        return int(match.group(1)), int(match.group(2))


class MonthQuerySerializer(serializers.Serializer):
    month = MonthField(max_length=7)
