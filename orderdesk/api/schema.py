"""OpenAPI pieces every customer API view shares (drf-spectacular)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from orderdesk.api.problems import PROBLEM_CONTENT_TYPE

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="1–255 printable ASCII characters. Retrying with the same key and body returns the stored response.",
)


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text='Where in the body, e.g. "lines[1].quantity".')
    code = serializers.CharField(help_text='What is wrong, e.g. "min_value".')
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every 4xx and 5xx answer."""

    type = serializers.CharField(help_text='A short slug clients match on, e.g. "duplicate-po-number".')
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True, required=False, help_text="Validation errors only.")


PROBLEM = OpenApiResponse(response=ProblemSerializer, description="application/problem+json (RFC 9457)")


def problem_media_type(result, generator, request, public):
    """Postprocessing hook: error answers are application/problem+json, not application/json.

    drf-spectacular writes every response with the view's renderer media types;
    the API's errors never are (orderdesk/api/problems.py), so each 4xx/5xx
    response that carries the Problem schema is moved to the problem media type.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status_code, response in operation.get("responses", {}).items():
                content = response.get("content")
                if not content or not status_code[:1] in "45":
                    continue
                schemas = [media.get("schema", {}).get("$ref", "") for media in content.values()]
                if all(ref.endswith("/Problem") for ref in schemas):
                    response["content"] = {PROBLEM_CONTENT_TYPE: content[next(iter(content))]}
    return result
