from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class StaffJapaneseFirstLocaleMiddleware(LocaleMiddleware):
    """Staff pages speak Japanese unless the user picked English with the switcher.

    Django's LocaleMiddleware would follow the browser's Accept-Language, so an
    office PC set up in English would silently show English. The customer API
    keeps the standard negotiation: a purchasing system asks for what it parses.
    """

    def process_request(self, request):
        if request.path.startswith("/api/"):
            return super().process_request(request)
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
