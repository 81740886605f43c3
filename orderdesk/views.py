from django.db import connection
from django.http import HttpResponse
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views import defaults

from orderdesk.api import problems


@login_required
def home(request):
    return render(request, "home.html")


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
    if problems.is_api_request(request):
        return problems.api_server_error(request)
    return defaults.server_error(request)
