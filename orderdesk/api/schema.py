"""OpenAPI pieces every customer API view shares (drf-spectacular)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="1–255 printable ASCII characters. Retrying with the same key and body returns the stored response.",
)
PROBLEM = OpenApiResponse(description="application/problem+json")
