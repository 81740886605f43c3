import time

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

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
