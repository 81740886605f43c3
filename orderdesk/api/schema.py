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
    field = serializers.CharField(
        allow_null=True, help_text='Where in the body, e.g. "lines[1].quantity"; null for the body as a whole.'
    )
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


# Answers any operation may give, whatever it does (orderdesk/api/problems.py): no or a wrong
# token, an Accept without JSON, the rate limit.
_EVERY_OPERATION = {
    "401": "No token, or a token that is wrong, revoked or of an inactive customer.",
    "406": "The Accept header allows no format this operation answers in.",
    "429": "Over the rate limit; `Retry-After` says in how many seconds to retry.",
}
# Any body (orderdesk.api.parsers, orderdesk.middleware): over API_MAX_BODY_BYTES, not JSON,
# chunked through a server that does not end the stream.
_EVERY_POST = {
    "411": "A chunked body the server cannot read to its end: send a Content-Length.",
    "413": "The body is over the size limit.",
    "415": "The body is not application/json.",
}
# A header value is stripped of white space at both ends by HTTP itself.
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]([ -~]*[!-~])?$"}


def document_common_answers(result, generator, request, public):
    """Postprocessing hook: every operation documents the errors the API's plumbing answers it with.

    401, 406 and 429 everywhere, 411, 413 and 415 on every POST; 400 where there are query parameters (each is
    checked: an unknown `status`, a bad `page_size`) or an Idempotency-Key
    (1–255 printable ASCII characters, else 400; reused with another body 422;
    still running 409); 404 where a path names something, a `format` is chosen
    or a `cursor` given. tests/test_api_schema.py and the schemathesis run in CI
    (.ci/schemathesis_run.py) hold the API to it.
    """
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            answers = dict(_EVERY_OPERATION)
            if method == "post":
                answers.update(_EVERY_POST)
            if any(p["in"] == "query" for p in parameters):
                answers["400"] = "A query parameter is not valid; `errors` names it."
            if any(p["in"] == "path" or p["name"] in ("format", "cursor") for p in parameters):
                answers["404"] = "Not found (or not yours), or a `cursor` this list did not give."
            for parameter in parameters:
                if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
                    parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)
                    answers["400"] = answers.get("400", "The request is not valid; `errors` names what.")
                    answers["409"] = "A request with this Idempotency-Key is still being processed (`Retry-After`)."
                    answers["422"] = "This Idempotency-Key was used with another request."
            responses = operation.setdefault("responses", {})
            for status_code, description in answers.items():
                responses.setdefault(
                    status_code, {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}}}
                )
            operation["responses"] = dict(sorted(responses.items()))
    return result
