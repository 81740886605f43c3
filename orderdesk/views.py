import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults, i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from orderdesk import health
from orderdesk.api import problems
from orderdesk.middleware import SESSION_LANGUAGE_KEY
from orderdesk.models import UserPreference

logger = logging.getLogger(__name__)


@login_required
def home(request):
    return render(request, "home.html")


def favicon(request):
    """Browsers ask for /favicon.ico on pages without an icon link (the admin's); the file is a static one."""
    return redirect(static("favicon.ico"))


@never_cache
@require_GET
def healthz(request):
    """Liveness: the process answers. Nothing else is asked, so a database outage does not get web processes killed."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Readiness: database, cache and broker reachable, and a live worker; 503 with every check's result when one fails."""
    ready, checks = health.readiness()
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


@require_POST
def set_language(request):
    """Django's language switcher, which also keeps a signed-in user's choice as their preference.

    The preference follows the user to other browsers (orderdesk.middleware)
    and decides the language of e-mail sent to them (the managers' digest).
    """
    response = i18n.set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        UserPreference.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[SESSION_LANGUAGE_KEY] = language
    return response


# API paths answer errors in problem+json even when Django, not DRF, produces them.
def bad_request(request, exception=None):
    if problems.is_api_request(request):
        return problems.api_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if problems.is_api_request(request):
        return problems.api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """The 500 page in the user's language with the navigation; plain if even that fails (the database is down)."""
    if problems.is_api_request(request):
        return problems.api_server_error(request)
    try:
        return render(request, "500.html", status=500)
    except Exception:
        logger.exception("the 500 page could not be rendered with the request; rendering it without")
        return defaults.server_error(request)
