import django_filters
from django import forms
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from orderdesk.api.idempotency import idempotent
from orderdesk.api.pagination import StrictCursorPagination
from orderdesk.api.problems import Problem
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM
from orders.api.serializers import OrderDetailSerializer, OrderSerializer
from orders.api.renderers import PdfRenderer
from orders.models import Order, OrderDocument
from orders.services.cancellation import order_cancel
from orders.services.transitions import Actor, TransitionNotAllowed


class NewestFirst(StrictCursorPagination):
    ordering = ("-created_at", "-id")


class _GivenChoiceField(forms.ChoiceField):
    """A choice that, when the parameter is given, must be one of the choices: `?status=` (empty) is refused too."""

    def clean(self, value):
        if value == "":
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value})
        return super().clean(value)


class GivenChoiceFilter(django_filters.ChoiceFilter):
    field_class = _GivenChoiceField


class OrderFilter(django_filters.FilterSet):
    status = GivenChoiceFilter(choices=Order.Status.choices)

    class Meta:
        model = Order
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(summary="Your orders, newest first"),
    retrieve=extend_schema(summary="One order with its lines and timeline", responses={200: OrderDetailSerializer, 404: PROBLEM}),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The customer's orders: list, read, cancel. Submitting one (POST to the list) is
    orders.api.submit.order_submit_view; orders.api.schema describes it here."""

    lookup_field = "number"
    lookup_value_regex = "[^/]+"
    pagination_class = NewestFirst
    filterset_class = OrderFilter
    serializer_class = OrderSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspects the view without a customer
            return Order.objects.none()
        # Tenant isolation: every query starts from the token's customer.
        orders = Order.objects.filter(customer=self.request.user.customer)
        if self.action == "retrieve":
            return orders.prefetch_related("lines", "events", "documents")
        return orders.prefetch_related("lines")

    def get_serializer_class(self):
        return OrderDetailSerializer if self.action == "retrieve" else OrderSerializer

    @extend_schema(
        summary="Cancel an order that has not started provisioning",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={200: OrderSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, number=None):
        order = self.get_object()
        try:
            order = order_cancel(order=order, actor=Actor.customer(request.user.customer), reason="cancelled by customer")
        except TransitionNotAllowed:
            raise Problem(
                409,
                "order-not-cancellable",
                _("This order can no longer be cancelled."),
                _("Order %(number)s is %(status)s; only orders that have not started provisioning can be cancelled.")
                % {"number": order.number, "status": order.status},
                status_of_order=order.status,
            ) from None
        return Response(OrderSerializer(order, context=self.get_serializer_context()).data)


class OrderQuotePdfView(APIView):
    """GET /orders/{number}/documents/quote.pdf — the order's stored 御見積書."""

    # JSON first, so errors are problem+json; PDF so that `Accept: application/pdf` is acceptable.
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        summary="The order's quote PDF (御見積書)",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: PROBLEM},
    )
    def get(self, request, number: str):
        # Tenant isolation: another customer's order is simply not found.
        order = get_object_or_404(Order, customer=request.user.customer, number=number)
        document = OrderDocument.objects.filter(order=order, kind=OrderDocument.Kind.QUOTE).first()
        if document is None:
            raise Problem(
                404,
                "document-not-rendered",
                _("The quote PDF has not been rendered yet."),
                _("Order %(number)s is %(status)s; its quote PDF is rendered by the pipeline. Try again later.")
                % {"number": order.number, "status": order.status},
                status_of_order=order.status,
            )
        return FileResponse(
            document.file.open("rb"),
            content_type=document.content_type,
            filename=f"{order.number}-quote.pdf",
            headers={"ETag": f'"{document.sha256}"'},
        )
