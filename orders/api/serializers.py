from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from orders.models import Order, OrderDocument, OrderEvent, OrderLine
from orders.selectors import order_licenses

MAX_LINES = 100
MAX_QUANTITY = 100_000


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrderInputSerializer(serializers.Serializer):
    po_number = serializers.CharField(min_length=1, max_length=64)
    lines = OrderLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES, allow_empty=False)
    requested_start = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate_lines(self, lines):
        seen: dict[str, int] = {}
        errors = {}
        for index, line in enumerate(lines):
            if line["sku"] in seen:
                errors[index] = {
                    "sku": [
                        serializers.ErrorDetail(
                            f"SKU {line['sku']} is already on line {seen[line['sku']]}; each SKU may appear once.",
                            code="duplicate",
                        )
                    ]
                }
            else:
                seen[line["sku"]] = index
        if errors:
            raise serializers.ValidationError(errors)
        return lines

    def validate_requested_start(self, value):
        if value is not None and value < timezone.localdate():
            raise serializers.ValidationError("The requested start may not be in the past.", code="past_date")
        return value


class OrderLineSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="product_name")

    class Meta:
        model = OrderLine
        fields = ["sku", "name", "quantity", "unit", "unit_price", "amount", "tax_rate"]


class OrderEventSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(source="created_at")
    by = serializers.SerializerMethodField()

    class Meta:
        model = OrderEvent
        fields = ["at", "from_status", "to_status", "reason", "by"]

    def get_by(self, event) -> str:
        # Customers see that staff acted, not which staff member.
        return "staff" if event.actor_label.startswith("staff:") else event.actor_label.split(":")[0]


class OrderSerializer(serializers.ModelSerializer):
    lines = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "status_reason",
            "po_number",
            "lines",
            "subtotal",
            "tax",
            "total",
            "requested_start",
            "notes",
            "created_at",
            "url",
        ]

    @extend_schema_field(OrderLineSerializer(many=True))
    def get_lines(self, order) -> list[dict]:
        # A just-created order carries its lines, saving a query on the hot intake path.
        lines = getattr(order, "prefetched_lines", None)
        if lines is None:
            lines = order.lines.all()
        return OrderLineSerializer(lines, many=True).data

    def get_url(self, order) -> str:
        return reverse("api:order-detail", kwargs={"number": order.number}, request=self.context.get("request"))


class OrderLicenseSerializer(serializers.Serializer):
    sku = serializers.CharField()
    seats = serializers.IntegerField(help_text="Seats this order line added to the subscription.")
    key = serializers.CharField(allow_null=True, help_text="The license key issued for this line.")
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    provisioned_at = serializers.DateTimeField()
    reference = serializers.CharField(help_text="The entry's reference in GET /licenses/{sku}/history/.")


class OrderDocumentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = OrderDocument
        fields = ["kind", "url", "content_type", "sha256", "created_at"]

    def get_url(self, document) -> str:
        return reverse("api:order-quote-pdf", kwargs={"number": document.order.number}, request=self.context.get("request"))


class OrderDetailSerializer(OrderSerializer):
    events = OrderEventSerializer(many=True, read_only=True)
    licenses = serializers.SerializerMethodField()
    documents = OrderDocumentSerializer(many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "events", "licenses", "documents"]

    @extend_schema_field(OrderLicenseSerializer(many=True))
    def get_licenses(self, order) -> list[dict]:
        return OrderLicenseSerializer(order_licenses(order=order), many=True).data
