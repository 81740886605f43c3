import logging

from django.db import connection
from django.http import HttpResponse
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults

from orderdesk.api import problems

logger = logging.getLogger(__name__)


@login_required
def home(request):
    return render(request, "home.html")


def favicon(request):
    """Browsers ask for /favicon.ico on pages without an icon link (the admin's); the file is a static one."""
    return redirect(static("favicon.ico"))


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


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
