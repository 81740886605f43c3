"""What the OpenAPI schema says of POST /api/v1/orders/, which DRF does not answer.

The order intake's endpoint is a plain Django view (orders.api.submit), so
drf-spectacular cannot see it. The URL of the order list carries OrderViewSet
for GET and "create" for POST (orderdesk/api/urls.py); this extension gives
drf-spectacular, and nothing else, an OrderViewSet whose `create` states the
operation: the request's rules (OrderInputSerializer, from the intake's own
limits) and every status the view answers. tests/test_api_schema.py checks the
schema against the view's answers.
"""

import calendar
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema

from licensing.models import JAPAN
from licensing.selectors import orderable_skus
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM
from orders.api.serializers import OrderInputSerializer, OrderSerializer


class OrderSubmission(OpenApiViewExtension):
    target_class = "orders.api.views.OrderViewSet"

    def view_replacement(self):
        class OrderViewSetWithSubmission(self.target_class):
            @extend_schema(
                summary="Submit a purchase order",
                description=(
                    "Answers 201 with the order, committed: it will be processed even if every worker and the broker "
                    "are down at that moment. A PO number the customer already used answers 409 `duplicate-po-number` "
                    "with the existing order's `number`."
                ),
                parameters=[IDEMPOTENCY_KEY],
                request=OrderInputSerializer,
                responses={
                    201: OrderSerializer,
                    400: PROBLEM,
                    401: PROBLEM,
                    406: PROBLEM,
                    409: PROBLEM,
                    413: PROBLEM,
                    415: PROBLEM,
                    422: PROBLEM,
                    429: PROBLEM,
                },
            )
            def create(self, request):
                """Described for the schema only: orders.api.submit.order_submit_view answers POST."""

        return OrderViewSetWithSubmission


def order_input_rules(result, generator, request, public):
    """Postprocessing hook: the order's rules that depend on the catalog and the day, stated in the schema.

    `sku` is one of the SKUs an order may name (licensing.selectors.orderable_skus),
    and `requested_start` a day from today to ORDER_REQUESTED_START_MAX_DAYS ahead
    (Japan time), as a pattern: JSON Schema has no bounds for dates. The schema is
    built on each request, so both are as of the moment it is fetched. What the
    schema cannot state (each SKU at most once, a PO number not used before: 409)
    is in the descriptions.
    """
    schemas = result.get("components", {}).get("schemas", {})
    line = schemas.get("OrderLineInputRequest", {}).get("properties", {})
    # Only for a schema served (GET /api/schema/): `manage.py check` and `spectacular` build one with no
    # request, possibly before the database exists; such a schema lists no SKUs.
    if "sku" in line and request is not None:
        line["sku"]["enum"] = orderable_skus()
    order = schemas.get("OrderInputRequest", {}).get("properties", {})
    if "requested_start" in order:
        today = timezone.localdate(timezone=JAPAN)
        last = today + timedelta(days=settings.ORDER_REQUESTED_START_MAX_DAYS)
        field = order["requested_start"]
        field.pop("format", None)  # the pattern admits only real days; a date format beside it would make generators guess
        field["pattern"] = date_range_pattern(today, last)
        field["description"] = (
            f"A day written YYYY-MM-DD, not in the past (Japan time) and at most "
            f"{settings.ORDER_REQUESTED_START_MAX_DAYS} days ahead: when this schema was fetched, {today} to {last}."
        )
    return result


def date_range_pattern(first: date, last: date) -> str:
    """A regular expression matching exactly the days first … last written YYYY-MM-DD."""
    months = []
    month_start = first.replace(day=1)
    while month_start <= last:
        days_in_month = calendar.monthrange(month_start.year, month_start.month)[1]
        low = first.day if (month_start.year, month_start.month) == (first.year, first.month) else 1
        high = last.day if (month_start.year, month_start.month) == (last.year, last.month) else days_in_month
        months.append(f"{month_start:%Y-%m}-({_two_digit_range(low, high)})")
        month_start = (month_start + timedelta(days=32)).replace(day=1)
    return "^(" + "|".join(months) + ")$"


def _two_digit_range(low: int, high: int) -> str:
    """`low`…`high` (1–31) as two digits, e.g. 5…23 → 0[5-9]|1[0-9]|2[0-3]."""
    parts = []
    for tens in range(low // 10, high // 10 + 1):
        first, last = max(low, tens * 10) % 10, min(high, tens * 10 + 9) % 10
        parts.append(f"{tens}{first}" if first == last else f"{tens}[{first}-{last}]")
    return "|".join(parts)
