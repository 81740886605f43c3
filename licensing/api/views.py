from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from licensing.api.serializers import (
    LedgerEntrySerializer,
    LicenseDecisionSerializer,
    LicenseValidateInputSerializer,
    ProductSerializer,
    SubscriptionSerializer,
)
from licensing.models import Product, Subscription
from licensing.selectors import customer_subscriptions, license_validate, subscription_history
from orderdesk.api.idempotency import idempotent
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The active catalog with volume price tiers (yen, tax-exclusive)."""

    serializer_class = ProductSerializer
    lookup_field = "sku"
    pagination_class = None  # the catalog is a handful of products

    def get_queryset(self):
        return Product.objects.filter(is_active=True).prefetch_related("price_tiers").order_by("sku")


@extend_schema_view(
    list=extend_schema(
        summary="Your subscriptions: seats, term and license keys",
        description="One entry per product you have licensed, by SKU. `seats` is derived from the seat ledger.",
    ),
)
class LicenseViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = SubscriptionSerializer
    lookup_field = "sku"
    lookup_value_regex = "[^/]+"
    pagination_class = None  # a customer has one subscription per product: a handful

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspects the view without a customer
            return Subscription.objects.none()
        # Tenant isolation: every query starts from the token's customer.
        return customer_subscriptions(customer=self.request.user.customer)

    @extend_schema(
        summary="The seat ledger of one subscription, oldest first",
        description="Every seat change with the running seat count after it. 404 for a SKU you have no subscription for.",
        responses={200: LedgerEntrySerializer(many=True), 404: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def history(self, request, sku=None):
        subscription = get_object_or_404(Subscription, customer=request.user.customer, product__sku=sku)
        entries = subscription_history(subscription=subscription)
        return Response(LedgerEntrySerializer(entries, many=True).data)

    @extend_schema(
        summary="May a license key be used now (or at `at`)?",
        description=(
            "Answers a decision with a reason code, checked in this order: UNKNOWN_KEY (no such key of yours), "
            "SUSPENDED (key revoked or subscription suspended), EXPIRED (after the term's last day, Japan time), "
            "SEAT_LIMIT (no seats, or add-on seats above base seats), OUTSIDE_WORKING_HOURS (your work-hours "
            "policy; `mode` warn keeps `valid` true, block makes it false), VALID."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=LicenseValidateInputSerializer,
        responses={200: LicenseDecisionSerializer, 400: PROBLEM, 409: PROBLEM, 422: PROBLEM, 429: PROBLEM},
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def validate(self, request):
        payload = LicenseValidateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        decision = license_validate(
            customer=request.user.customer, key=payload.validated_data["key"], at=payload.validated_data.get("at")
        )
        return Response(LicenseDecisionSerializer(asdict(decision)).data)
