import csv
from dataclasses import asdict

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from licensing.api.serializers import (
    KEYS_LISTED_PER_SUBSCRIPTION,
    LedgerEntrySerializer,
    LicenseDecisionSerializer,
    LicenseHistoryQuerySerializer,
    LicenseKeySerializer,
    LicenseValidateInputSerializer,
    MonthQuerySerializer,
    ProductSerializer,
    SubscriptionSerializer,
)
from licensing.api.validate import CHECKED_AT_HEADER
from licensing.models import Product, Subscription
from licensing.selectors import (
    OUTSIDE_HOURS_COLUMNS,
    customer_subscriptions,
    outside_hours_rows,
    subscription_history,
    subscription_keys,
    with_seats_after,
)
from licensing.validation import license_check
from orderdesk.api.idempotency import idempotent
from orderdesk.api.pagination import StrictCursorPagination
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM, ProblemSerializer
from orderdesk.api.throttling import CustomerTokenThrottle

CHECKED_AT = OpenApiParameter(
    CHECKED_AT_HEADER,
    OpenApiTypes.DATETIME,
    OpenApiParameter.HEADER,
    response=[200],
    description="Key-only answers: the moment judged (your `at`, or the server's time when yours was off by more than the tolerance).",
)
RATE_LIMITED = OpenApiResponse(
    response=ProblemSerializer,
    description="application/problem+json, type `rate-limited`, with `Retry-After` (seconds until the window ends)."
)


class CsvRenderer(JSONRenderer):
    """Makes `Accept: text/csv` acceptable; the CSV is an HttpResponse no renderer touches, errors stay JSON."""

    media_type = "text/csv"
    format = "csv"


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The active catalog with volume price tiers (yen, tax-exclusive)."""

    serializer_class = ProductSerializer
    lookup_field = "sku"
    pagination_class = None  # the catalog is a handful of products

    def get_queryset(self):
        return Product.objects.filter(is_active=True).prefetch_related("price_tiers").order_by("sku")


class _Cursor(StrictCursorPagination):
    """Cursor pagination like the order list's: `results`, `next`, `previous`, and `?page_size=`."""

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
            "SEAT_LIMIT (no seats, or an add-on family with more seats than the base family it runs on), "
            "OUTSIDE_WORKING_HOURS (your work-hours policy: days, hours — a shift may cross midnight —, public "
            "holidays and your closed days; `mode` warn keeps `valid` true, block makes it false), VALID.\n\n"
            "**With your token** (a purchasing system): any `at` is judged, and only your own keys are known.\n\n"
            "**With the key alone** (no `Authorization` header: an application on an employee's device): the "
            "answer is the same `{valid, code, mode}` and nothing else. `at` is used only within "
            f"{settings.LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS} seconds of the server's clock; otherwise the "
            "server's time is judged. The header `Orderdesk-Checked-At` says which moment was judged. "
            f"Rate-limited to {settings.LICENSE_VALIDATE_KEY_RATE_LIMIT} per key and "
            f"{settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT} per client address (429 with `Retry-After`). "
            "`Idempotency-Key` is accepted and ignored: a device always gets a fresh answer.\n\n"
            "Where your company has a work-hours policy, every validation outside working hours is recorded "
            "(see `GET /api/v1/licenses/outside-hours/`)."
        ),
        parameters=[IDEMPOTENCY_KEY, CHECKED_AT],
        request=LicenseValidateInputSerializer,
        responses={
            200: LicenseDecisionSerializer,
            400: PROBLEM,
            401: OpenApiResponse(
                response=ProblemSerializer,
                description="application/problem+json: an `Authorization` header with a token that is not valid.",
            ),
            409: PROBLEM,
            413: PROBLEM,
            415: PROBLEM,
            422: PROBLEM,
            429: RATE_LIMITED,
        },
        auth=[{"customerToken": []}, {}],
    )
    @action(
        detail=False,
        methods=["post"],
        throttle_classes=[CustomerTokenThrottle],
    )
    def validate(self, request):
        """With a token. Requests without an Authorization header (devices) are answered by
        licensing.api.validate.device_validate_view (orderdesk/api/urls.py); this action describes both."""
        return self._validate_for_purchasing_system(request)

    @idempotent
    def _validate_for_purchasing_system(self, request):
        payload = _validate_input(request)
        decision = license_check(customer=request.user.customer, key=payload["key"], at=payload.get("at"))
        return Response(asdict(decision))  # the fields of LicenseDecisionSerializer, which the schema shows

    @extend_schema(
        summary="Your work-hours record: validations outside working hours in one month (CSV)",
        description=(
            "One line per validation of your keys outside your working hours (労務管理), oldest first: `at` "
            "(ISO-8601 with offset), `local_time` and `time_zone` (the zone your hours were judged in), `key`, "
            "`sku`, `mode` (warn or block) and `allowed` (true in warn mode). The month runs in your work-hours "
            "policy's time zone. UTF-8, comma-separated, with a header line. Rows are kept for "
            f"{settings.WORK_HOURS_RECORD_RETENTION_DAYS} days."
        ),
        parameters=[
            OpenApiParameter(
                "month", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, pattern=r"^(2[0-9]{3}|[3-9][0-9]{3})-(0[1-9]|1[0-2])$",
                description="The month, as YYYY-MM (e.g. 2026-12).",
            )
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, 400: PROBLEM, 401: PROBLEM, 429: RATE_LIMITED},
    )
    @action(detail=False, methods=["get"], url_path="outside-hours", renderer_classes=[JSONRenderer, CsvRenderer])
    def outside_hours(self, request):
        month = MonthQuerySerializer(data=request.query_params)
        month.is_valid(raise_exception=True)
        year, month_number = month.validated_data["month"]
        customer = request.user.customer
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="outside-hours-{customer.code}-{year:04d}-{month_number:02d}.csv"'
        writer = csv.writer(response)
        writer.writerow(OUTSIDE_HOURS_COLUMNS)
        writer.writerows(outside_hours_rows(customer=customer, year=year, month=month_number))
        return response


def _validate_input(request) -> dict:
    payload = LicenseValidateInputSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data
