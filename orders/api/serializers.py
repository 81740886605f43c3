"""The order API's bodies: what the OpenAPI schema says, and the one code that writes them.

Each serializer declares its fields for the schema (drf-spectacular reads
them) and writes a body with plain code in `to_representation`: DRF's
field-by-field rendering cost about 0.7 ms per order, more than storing the
order, and the 201 of a submission, the order list, the order page, a replay
and an accepted quote all show an order. tests/test_api_schema.py checks that
every body the API answers matches the schema.

Input is checked by the order intake's validator (orders.services.intake);
OrderInputSerializer states its rules for the schema, from the same limits.
"""

import functools

from django.urls import get_script_prefix
from django.urls import reverse as django_reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.reverse import reverse

from orderdesk.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN
from orders.models import Order, OrderDocument, OrderEvent, OrderLine
from orders.selectors import order_licenses
from orders.services.intake import MAX_LINES, MAX_QUANTITY, NOTES_MAX_LENGTH, PO_NUMBER_MAX_LENGTH, SKU_MAX_LENGTH



# --- Input (schema only) -------------------------------------------------------------


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX_LENGTH, help_text="One of GET /api/v1/products/ (the schema lists them).")
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_QUANTITY, help_text="A JSON integer: not a string, not 50.0."
    )


class OrderInputSerializer(serializers.Serializer):
    po_number = serializers.RegexField(
        SINGLE_LINE_PATTERN,
        min_length=1,
        max_length=PO_NUMBER_MAX_LENGTH,
        help_text="Unique per customer. No control or text-direction characters.",
    )
    lines = serializers.ListField(
        child=OrderLineInputSerializer(), min_length=1, max_length=MAX_LINES, help_text="Each SKU at most once."
    )
    requested_start = serializers.DateField(
        required=False, allow_null=True, help_text="Not in the past (Japan time), at most a year ahead."
    )
    notes = serializers.RegexField(
        MULTI_LINE_PATTERN,
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=NOTES_MAX_LENGTH,
        default="",
        help_text="Free text for the order desk; null or absent: no notes.",
    )


# --- Output -------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="product_name")

    class Meta:
        model = OrderLine
        fields = ["sku", "name", "quantity", "unit", "unit_price", "amount", "tax_rate", "coterm_months", "coterm_until"]
        extra_kwargs = {
            "coterm_months": {
                "help_text": "Seats added to a running subscription end with its term and are priced for the months "
                "left of it (月割り, a begun month counted whole): unit_price is the tier price × months / term months. "
                "null: priced for a full term."
            },
            "coterm_until": {"help_text": "The last day of the term these seats join (co-terming); null for a full term."},
        }


class OrderEventSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(source="created_at")
    by = serializers.CharField(help_text="Who acted: api (your systems), staff, pipeline, sweeper.")

    class Meta:
        model = OrderEvent
        fields = ["at", "action", "from_status", "to_status", "reason", "by"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    url = serializers.URLField()
    quote = serializers.CharField(allow_null=True, help_text="The number of the accepted quote this order was made from.")

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "status_reason",
            "po_number",
            "lines",
            "discount",
            "subtotal",
            "tax",
            "total",
            "requested_start",
            "notes",
            "quote",
            "created_at",
            "url",
        ]

    def to_representation(self, order: Order) -> dict:
        return order_body(order, request=self.context.get("request"))


class OrderLicenseSerializer(serializers.Serializer):
    sku = serializers.CharField()
    seats = serializers.IntegerField(help_text="Seats this order line added to the subscription.")
    key = serializers.CharField(allow_null=True, help_text="The license key issued for this line.")
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    provisioned_at = serializers.DateTimeField()
    reference = serializers.CharField(help_text="The entry's reference in GET /licenses/{sku}/history/.")


class OrderDocumentSerializer(serializers.ModelSerializer):
    url = serializers.URLField()

    class Meta:
        model = OrderDocument
        fields = ["kind", "url", "content_type", "sha256", "created_at"]


class OrderDetailSerializer(OrderSerializer):
    events = OrderEventSerializer(many=True)
    licenses = OrderLicenseSerializer(many=True)
    documents = OrderDocumentSerializer(many=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "events", "licenses", "documents"]

    def to_representation(self, order: Order) -> dict:
        return order_detail_body(order, request=self.context.get("request"))


def order_body(order: Order, *, request) -> dict:
    """An order as the API shows it. Its lines come from `prefetched_lines` when set (a new order), else the database."""
    lines = getattr(order, "prefetched_lines", None)
    if lines is None:
        lines = order.lines.all()
    return {
        "number": order.number,
        "status": order.status,
        "status_reason": order.status_reason,
        "po_number": order.po_number,
        "lines": [
            {
                "sku": line.sku,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "tax_rate": line.tax_rate,
                "coterm_months": line.coterm_months,
                "coterm_until": line.coterm_until.isoformat() if line.coterm_until else None,
            }
            for line in lines
        ],
        "discount": order.discount,
        "subtotal": order.subtotal,
        "tax": order.tax,
        "total": order.total,
        "requested_start": order.requested_start.isoformat() if order.requested_start else None,
        "notes": order.notes,
        # Only orders made from a quote pay a query for its number.
        "quote": order.quote.number if order.quote_id else None,
        "created_at": api_datetime(order.created_at),
        "url": _order_url(order.number, request),
    }


def order_detail_body(order: Order, *, request) -> dict:
    """order_body with the timeline, the licenses provisioned for it and its documents."""
    return {
        **order_body(order, request=request),
        "events": [
            {
                "at": api_datetime(event.created_at),
                "action": event.action,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "reason": event.reason,
                "by": _event_by(event),
            }
            for event in order.events.all()
        ],
        "licenses": OrderLicenseSerializer(order_licenses(order=order), many=True).data,
        "documents": [
            {
                "kind": document.kind,
                "url": reverse("api:order-quote-pdf", kwargs={"number": order.number}, request=request),
                "content_type": document.content_type,
                "sha256": document.sha256,
                "created_at": api_datetime(document.created_at),
            }
            for document in order.documents.all()
        ],
    }


def api_datetime(value) -> str:
    """A date-time as DRF's DateTimeField writes it: ISO 8601 in the current time zone (Japan), "Z" for UTC."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _order_url(number: str, request) -> str:
    """reverse("api:order-detail") for the number, absolute with a request. Every body an order shows has one."""
    path = _order_path_template(get_script_prefix()).replace(_NUMBER_PLACEHOLDER, number)
    return request.build_absolute_uri(path) if request is not None else path


# Order numbers are letters, digits and "-": nothing in them is escaped in a URL.
_NUMBER_PLACEHOLDER = "ORDERNUMBER"


@functools.lru_cache(maxsize=16)
def _order_path_template(script_prefix: str) -> str:
    # Keyed by the script prefix reverse() puts in front (a deployment under a sub-path).
    return django_reverse("api:order-detail", kwargs={"number": _NUMBER_PLACEHOLDER})


def _event_by(event: OrderEvent) -> str:
    # Customers see that staff acted, not which staff member.
    return "staff" if event.actor_label.startswith("staff:") else event.actor_label.split(":")[0]
