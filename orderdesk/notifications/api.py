"""The customer API of webhook endpoints and their delivery log (`/api/v1/webhook-endpoints/`).

Each customer sees only its own endpoints: another's is 404. The secret is in
the answer of create and rotate-secret only.
"""

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from orderdesk.api.idempotency import idempotent
from orderdesk.api.problems import validation_problem
from orderdesk.api.schema import IDEMPOTENCY_KEY, PROBLEM
from orderdesk.notifications.delivery import delivery_send_again
from orderdesk.notifications.endpoints import (
    DESCRIPTION_MAX_LENGTH,
    URL_MAX_LENGTH,
    EndpointInvalid,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
)
from orderdesk.notifications.events import EVENT_TYPES
from orderdesk.notifications.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint


class EndpointSerializer(serializers.ModelSerializer):
    enabled = serializers.BooleanField(source="is_active", help_text="False once disabled (by you, or after failing for 3 days).")
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)))
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="During a rotation: until when deliveries are signed with the previous secret too."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "enabled", "disabled_at", "disabled_reason", "previous_secret_expires_at", "created_at", "updated_at"]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret. Shown only in this answer: keep it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointInputSerializer(serializers.Serializer):
    """For the schema; the service checks the body (orderdesk.notifications.endpoints)."""

    url = serializers.URLField(max_length=URL_MAX_LENGTH, help_text="https only; a public address.")
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)), min_length=1)
    description = serializers.CharField(max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True)


class EndpointUpdateSerializer(EndpointInputSerializer):
    url = serializers.URLField(max_length=URL_MAX_LENGTH, required=False)
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)), min_length=1, required=False)
    enabled = serializers.BooleanField(required=False, help_text="true starts a disabled endpoint again.")


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "attempted_at", "succeeded", "status_code", "duration_ms", "response_excerpt", "error"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    attempt_log = AttemptSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "created_at", "delivered_at", "attempt_log"]
        read_only_fields = fields


class _Newest(CursorPagination):
    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(summary="Your webhook endpoints"),
    retrieve=extend_schema(summary="One webhook endpoint", responses={200: EndpointSerializer, 404: PROBLEM}),
    destroy=extend_schema(summary="Delete a webhook endpoint", responses={204: None, 404: PROBLEM}),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = EndpointSerializer
    pagination_class = None  # a handful per customer (WEBHOOK_ENDPOINTS_PER_CUSTOMER)

    queryset = WebhookEndpoint.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        # Tenant isolation: another customer's endpoint is simply not found.
        return WebhookEndpoint.objects.filter(customer_id=self.request.user.customer.pk).order_by("created_at", "pk")

    @extend_schema(
        summary="Add a webhook endpoint",
        parameters=[IDEMPOTENCY_KEY],
        request=EndpointInputSerializer,
        responses={201: EndpointWithSecretSerializer, 400: PROBLEM},
    )
    @idempotent
    def create(self, request):
        data = _object(request.data)
        try:
            endpoint = endpoint_create(
                customer_id=request.user.customer.pk,
                url=data.get("url"),
                events=data.get("events"),
                description=data.get("description", ""),
            )
        except EndpointInvalid as invalid:
            raise validation_problem([e.as_dict() for e in invalid.errors]) from None
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a webhook endpoint (URL, events, description, enabled)",
        request=EndpointUpdateSerializer,
        responses={200: EndpointSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = _object(request.data)
        enabled = data.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise validation_problem([{"field": "enabled", "code": "invalid", "message": _("enabled must be true or false.")}])
        try:
            endpoint = endpoint_update(
                endpoint=endpoint, url=data.get("url"), events=data.get("events"), description=data.get("description"), enabled=enabled
            )
        except EndpointInvalid as invalid:
            raise validation_problem([e.as_dict() for e in invalid.errors]) from None
        return Response(EndpointSerializer(endpoint).data)

    def perform_destroy(self, instance):
        endpoint_delete(endpoint=instance)

    @extend_schema(
        summary="Rotate the signing secret",
        description="Answers the new secret, once. For 24 hours deliveries carry a second `v1` signature made with the previous secret.",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={200: EndpointWithSecretSerializer, 404: PROBLEM},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    @idempotent
    def rotate_secret(self, request, pk=None):
        endpoint = endpoint_rotate_secret(endpoint=self.get_object())
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        summary="The endpoint's delivery log, newest first",
        responses={200: DeliverySerializer(many=True), 404: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        queryset = (
            WebhookDelivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number")))
        )
        paginator = _Newest()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Deliver an event to this endpoint again",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={202: DeliverySerializer, 404: PROBLEM},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]+)/send-again")
    @idempotent
    def send_again(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).first()
        if delivery is None:
            raise NotFound(f"This endpoint has no delivery {delivery_id}.")
        delivery = delivery_send_again(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise validation_problem([{"field": None, "code": "invalid", "message": _("The body must be a JSON object.")}])
    return data
