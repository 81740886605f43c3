from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from licensing.api.serializers import (
    KEYS_LISTED_PER_SUBSCRIPTION,
    LedgerEntrySerializer,
    LicenseDecisionSerializer,
    LicenseHistoryQuerySerializer,
    LicenseKeySerializer,
    LicenseValidateInputSerializer,
    ProductSerializer,
    SubscriptionSerializer,
)
from licensing.models import Product, Subscription
from licensing.selectors import (
    customer_subscriptions,
    license_validate,
    subscription_history,
    subscription_keys,
    with_seats_after,
)
from orderdesk.api.idempotency import idempotent
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The active catalog with volume price tiers (yen, tax-exclusive)."""

    serializer_class = ProductSerializer
    lookup_field = "sku"
    pagination_class = None  # the catalog is a handful of products

    def get_queryset(self):
        return Product.objects.filter(is_active=True).prefetch_related("price_tiers").order_by("sku")


class _Cursor(CursorPagination):
    """Cursor pagination like the order list's: `results`, `next`, `previous`, and `?page_size=`."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class BySku(_Cursor):
    ordering = ("sku",)  # one subscription per product and customer: unique


class OldestFirst(_Cursor):
    ordering = ("created_at", "id")


class KeysOldestFirst(_Cursor):
    ordering = ("issued_at", "id")


@extend_schema_view(
    list=extend_schema(
        summary="Your subscriptions: seats, term and license keys",
        description=(
            "One entry per product you have licensed, by SKU, cursor-paginated. `seats` is derived from the seat "
            f"ledger. Each entry lists its first {KEYS_LISTED_PER_SUBSCRIPTION} unrevoked keys; `keys_count` says "
            "how many there are, and `keys_url` pages through all of them."
        ),
    ),
)
class LicenseViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = SubscriptionSerializer
    lookup_field = "sku"
    lookup_value_regex = "[^/]+"
    pagination_class = BySku

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspects the view without a customer
            return Subscription.objects.none()
        # Tenant isolation: every query starts from the token's customer.
        return customer_subscriptions(customer=self.request.user.customer, keys_limit=KEYS_LISTED_PER_SUBSCRIPTION)

    def _own_subscription(self, sku: str) -> Subscription:
        return get_object_or_404(Subscription, customer=self.request.user.customer, product__sku=sku)

    @extend_schema(
        summary="The seat ledger of one subscription, oldest first",
        description=(
            "Every seat change with the running seat count after it, cursor-paginated. `?since=` starts at a moment "
            "(400 if it is not an ISO-8601 date-time). 404 for a SKU you have no subscription for."
        ),
        parameters=[LicenseHistoryQuerySerializer],
        responses={200: LedgerEntrySerializer(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    @action(detail=True, methods=["get"], pagination_class=OldestFirst)
    def history(self, request, sku=None):
        query = LicenseHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        subscription = self._own_subscription(sku)
        entries = self.paginate_queryset(subscription_history(subscription=subscription, since=query.validated_data.get("since")))
        return self.get_paginated_response(LedgerEntrySerializer(with_seats_after(entries), many=True).data)

    @extend_schema(
        summary="All unrevoked license keys of one subscription, oldest first",
        description="Cursor-paginated. 404 for a SKU you have no subscription for.",
        responses={200: LicenseKeySerializer(many=True), 404: PROBLEM},
    )
    @action(detail=True, methods=["get"], pagination_class=KeysOldestFirst)
    def keys(self, request, sku=None):
        keys = self.paginate_queryset(subscription_keys(subscription=self._own_subscription(sku)))
        return self.get_paginated_response(LicenseKeySerializer(keys, many=True).data)

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
