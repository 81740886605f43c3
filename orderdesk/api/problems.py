"""Every API error as application/problem+json (RFC 9457).

`type` is a short slug (e.g. "idempotency-key-reused") that clients match on;
validation errors add `errors`: [{"field": "lines[1].quantity", "code", "message"}].
"""

import logging

from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(exceptions.APIException):
    """An error with its own problem type, raised by views: `raise Problem(409, "duplicate-po-number", ...)`."""

    def __init__(self, status_code: int, problem_type: str, title: str, detail: str = "", *, headers=None, **extra):
        self.status_code = status_code
        self.problem_type = problem_type
        self.title = title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(detail or title)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


# DRF exception class → (type, title)
_KNOWN = [
    (exceptions.ValidationError, "validation-error", _("Your request has invalid fields.")),
    (exceptions.ParseError, "malformed-request", _("The request body could not be parsed.")),
    (exceptions.NotAuthenticated, "not-authenticated", _("Authentication credentials were not provided.")),
    (exceptions.AuthenticationFailed, "authentication-failed", _("The credentials are not valid.")),
    (exceptions.PermissionDenied, "permission-denied", _("You may not do this.")),
    (exceptions.NotFound, "not-found", _("Not found.")),
    (exceptions.MethodNotAllowed, "method-not-allowed", _("Method not allowed.")),
    (exceptions.NotAcceptable, "not-acceptable", _("The requested response format is not available.")),
    (exceptions.UnsupportedMediaType, "unsupported-media-type", _("Send the body as application/json.")),
    (exceptions.Throttled, "rate-limited", _("Too many requests.")),
    (PayloadTooLarge, "payload-too-large", _("The request body is too large.")),
]


def problem_body(*, status_code: int, problem_type: str, title: str, detail: str = "", **extra) -> dict:
    # Titles and details may be lazy translations: stored (replays) and rendered as plain text,
    # in the language of the request (Accept-Language; Japanese by default).
    body = {"type": problem_type, "title": str(title), "status": status_code, "detail": str(detail or title)}
    body.update(extra)
    return body


def problem_response(*, status_code: int, problem_type: str, title: str, detail: str = "", headers=None, **extra) -> Response:
    body = problem_body(status_code=status_code, problem_type=problem_type, title=title, detail=detail, **extra)
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def validation_problem(errors: list[dict]) -> Problem:
    """400 validation-error with `errors` [{"field", "code", "message"}], as DRF's ValidationError answers."""
    return Problem(400, "validation-error", _("Your request has invalid fields."), _errors_detail(errors), errors=errors)


def _errors_detail(errors: list[dict]) -> str:
    return "; ".join(f"{error['field'] or 'body'}: {error['message']}" for error in errors[:5])


def server_error_problem() -> Problem:
    """What an unexpected error answers: nothing about its cause."""
    return Problem(
        500,
        "server-error",
        _("Internal server error."),
        _("Something went wrong on our side. Nothing you sent was kept unless a 2xx said so; please retry."),
    )


def field_errors(detail, path: str = "") -> list[dict]:
    """Flatten DRF's nested error detail into [{"field": "lines[1].quantity", "code", "message"}]."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{path}[{key}]"
            elif key == "non_field_errors":
                child = path
            else:
                child = f"{path}.{key}" if path else str(key)
            errors.extend(field_errors(value, child))
        return errors
    if isinstance(detail, list):
        if all(isinstance(item, (dict, list)) for item in detail):
            errors = []
            for index, item in enumerate(detail):
                errors.extend(field_errors(item, f"{path}[{index}]"))
            return errors
        return [_one_error(item, path) for item in detail if item]
    return [_one_error(detail, path)]


# Messages DRF writes without gettext (serializers.py: a `null` body), translated here.
_UNTRANSLATED_BY_DRF = {"No data provided": _("No data provided")}


def _one_error(item, path: str) -> dict:
    message = str(item)
    return {"field": path or None, "code": getattr(item, "code", "invalid"), "message": str(_UNTRANSLATED_BY_DRF.get(message, message))}


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception a view raises becomes a problem response."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, Problem):
        problem = exc
    elif isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc, context)
    else:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        problem = server_error_problem()
    return problem_response(
        status_code=problem.status_code,
        problem_type=problem.problem_type,
        title=problem.title,
        detail=str(problem.detail),
        headers=problem.headers,
        **problem.extra,
    )


def _api_exception_response(exc: exceptions.APIException, context) -> Response:
    problem_type, title = "error", _("Error.")
    for exception_class, known_type, known_title in _KNOWN:
        if isinstance(exc, exception_class):
            problem_type, title = known_type, known_title
            break
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context.get("request")
        authenticator = getattr(request, "_authenticator", None) or _first_authenticator(context)
        if authenticator is not None:
            headers["WWW-Authenticate"] = authenticator.authenticate_header(request)
    if isinstance(exc, exceptions.MethodNotAllowed) and context.get("view") is not None:
        headers["Allow"] = ", ".join(context["view"].allowed_methods)

    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        extra["errors"] = field_errors(exc.detail)
        detail = _errors_detail(extra["errors"])
    elif isinstance(exc, exceptions.ParseError):
        extra["errors"] = [{"field": None, "code": "parse_error", "message": str(exc.detail)}]
        detail = str(exc.detail)
    else:
        detail = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else title
    return problem_response(
        status_code=exc.status_code, problem_type=problem_type, title=title, detail=detail, headers=headers, **extra
    )


def _first_authenticator(context):
    view = context.get("view")
    if view is None:
        return None
    authenticators = view.get_authenticators()
    return authenticators[0] if authenticators else None


def problem_django_response(*, status_code: int, problem_type: str, title: str, detail: str = "") -> JsonResponse:
    """A problem answered outside DRF (Django's error handlers, middleware)."""
    body = problem_body(status_code=status_code, problem_type=problem_type, title=title, detail=detail)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False})


def _django_problem(request, status_code: int, problem_type: str, title: str) -> JsonResponse:
    return problem_django_response(status_code=status_code, problem_type=problem_type, title=title)


def is_api_request(request) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request, exception=None):
    return _django_problem(request, 404, "not-found", _("No such API path."))


def api_server_error(request):
    return _django_problem(request, 500, "server-error", _("Internal server error."))


def api_bad_request(request, exception=None):
    return _django_problem(request, 400, "bad-request", _("The request could not be understood."))
