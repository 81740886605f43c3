"""What the OpenAPI schema says of POST /api/v1/orders/, which DRF does not answer.

The order intake's endpoint is a plain Django view (orders.api.submit), so
drf-spectacular cannot see it. The URL of the order list carries OrderViewSet
for GET and "create" for POST (orderdesk/api/urls.py); this extension gives
drf-spectacular, and nothing else, an OrderViewSet whose `create` states the
operation: the request's rules (OrderInputSerializer, from the intake's own
limits) and every status the view answers. tests/test_api_schema.py checks the
schema against the view's answers.
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema

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
