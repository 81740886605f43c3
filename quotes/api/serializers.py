from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from orderdesk.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN
from quotes.models import Quote, QuoteLine


class QuoteLineSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="product_name")

    class Meta:
        model = QuoteLine
        fields = ["sku", "name", "quantity", "unit", "unit_price", "discount_percent", "discount_yen", "amount", "tax_rate"]


class TaxRowSerializer(serializers.Serializer):
    rate = serializers.IntegerField()
    subtotal = serializers.IntegerField()
    tax = serializers.IntegerField()


class QuoteSerializer(serializers.ModelSerializer):
    """A quote as sent to the customer. Amounts are integer yen; `subtotal` is after every discount."""

    lines = QuoteLineSerializer(many=True, read_only=True)
    tax_rows = TaxRowSerializer(many=True, read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    superseded_by = serializers.SerializerMethodField()
    order = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    accept_url = serializers.SerializerMethodField()

    class Meta:
        model = Quote
        fields = [
            "number",
            "revision",
            "status",
            "issue_date",
            "valid_until",
            "expires_at",
            "lines",
            "list_total",
            "discount",
            "subtotal",
            "tax_rows",
            "tax",
            "total",
            "payment_terms",
            "notes",
            "superseded_by",
            "order",
            "url",
            "accept_url",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_superseded_by(self, quote) -> str | None:
        successor = Quote.objects.filter(supersedes=quote).values_list("number", flat=True).first()
        return successor

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_order(self, quote) -> str | None:
        """The number of the order made when the quote was accepted."""
        return quote.orders.values_list("number", flat=True).first()

    def get_url(self, quote) -> str:
        return reverse("api:quote-detail", kwargs={"number": quote.number}, request=self.context.get("request"))

    def get_accept_url(self, quote) -> str:
        return reverse("api:quote-accept", kwargs={"number": quote.number}, request=self.context.get("request"))


class QuoteAcceptSerializer(serializers.Serializer):
    po_number = serializers.RegexField(
        SINGLE_LINE_PATTERN,
        min_length=1,
        max_length=64,
        required=False,
        help_text="Your purchase order number; defaults to the quote number. No control or text-direction characters.",
    )
    notes = serializers.RegexField(MULTI_LINE_PATTERN, required=False, allow_blank=True, max_length=2000, default="")
