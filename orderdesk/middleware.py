import io
import time

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import Http404, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext as _

from orderdesk.api.parsers import body_over_limit
from orderdesk.api.problems import is_api_request, problem_django_response
from orderdesk.metrics import observe_intake

# Where a signed-in user's language preference (orderdesk.models.UserPreference) is kept
# for the session: set at sign-in and by the language switcher (orderdesk.views).
SESSION_LANGUAGE_KEY = "orderdesk_language"


class StaffJapaneseFirstLocaleMiddleware(LocaleMiddleware):
    """Staff pages speak Japanese unless the user picked English.

    Django's LocaleMiddleware would follow the browser's Accept-Language, so an
    office PC set up in English would silently show English. The customer API
    keeps the standard negotiation: a purchasing system asks for what it parses.
    A signed-in user's own preference comes first, then the switcher's cookie.
    """

    def process_request(self, request):
        if request.path.startswith("/api/"):
            return super().process_request(request)
        languages = dict(settings.LANGUAGES)
        preferred = request.session.get(SESSION_LANGUAGE_KEY) if hasattr(request, "session") else None
        chosen = preferred if preferred in languages else request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in languages else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


INTAKE_PATH = "/api/v1/orders/"


class IntakeLatencyMiddleware:
    """Times every order submission (POST /api/v1/orders/) into the intake latency histogram.

    At the edge of the request, not inside the intake: from the first
    middleware to the response, which is what a purchasing system waits for
    (less the network). Every other request passes through untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or request.path != INTAKE_PATH:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        observe_intake(seconds=time.perf_counter() - started, status_code=response.status_code)
        return response


class RequestShapeMiddleware:
    """Two shapes of request Django would mishandle, answered before any view runs.

    - A NUL (%00) in the path: no order, quote, customer or SKU has one, and
      PostgreSQL refuses it in a query (DataError, a 500). Answered 404 like
      any other name that does not exist (problem+json on /api/, the 404 page
      elsewhere).
    - A body sent with `Transfer-Encoding: chunked` has no Content-Length, and
      Django reads such a body as empty (a valid order would get "po_number
      required"). On /api/ the body is read here, up to API_MAX_BODY_BYTES
      (413 past it), when the server has decoded the chunks and ends the
      stream (gunicorn does: wsgi.input_terminated); otherwise, and on the
      staff pages, whose browsers always send a Content-Length, the answer is
      411 Length Required.

    After AuthenticationMiddleware, so that the 404 page shows the user's
    navigation; before every view, so that no view sees either request. Every
    other request costs two string tests.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404("No such path.")
        meta = request.META
        if "HTTP_TRANSFER_ENCODING" in meta and not meta.get("CONTENT_LENGTH"):
            refusal = _read_chunked_body(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)


def _read_chunked_body(request):
    """Read a chunked body into the request (None), or the response that refuses it."""
    meta = request.META
    if "chunked" not in meta["HTTP_TRANSFER_ENCODING"].lower():
        return None
    api = is_api_request(request)
    if not (api and meta.get("wsgi.input_terminated")):
        title = _("Send the request with a Content-Length header.")
        if api:
            return problem_django_response(status_code=411, problem_type="length-required", title=title)
        return HttpResponse(title, status=411, content_type="text/plain; charset=utf-8")
    limit = settings.API_MAX_BODY_BYTES
    body = meta["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        return problem_django_response(
            status_code=413,
            problem_type="payload-too-large",
            title=_("The request body is too large."),
            detail=body_over_limit(limit),
        )
    meta["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return None
