from django.contrib import admin
from django.urls import include, path

from orderdesk import views
from orderdesk.env import env_bool
from orders.quote_views import quote_accept

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    # Before the quotes app's URLs: accepting creates an order, which quotes may not import.
    path("quotes/<str:number>/accept/", quote_accept, name="quote_accept"),
    path("quotes/", include("quotes.urls")),
    path("renewals/", include("quotes.renewal_urls")),
    path("backlog/", include("orders.urls")),
    path("imports/", include("orders.import_urls")),
    path("customers/", include("licensing.urls")),
    path("api/", include("orderdesk.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    # Before Django's own: the switcher also saves a signed-in user's preference.
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # The control room: /dashboard/, the order feed at /orders/, /metrics.
    path("", include("control.urls")),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin's).
    path("favicon.ico", views.favicon, name="favicon"),
]

if env_bool("ORDERDESK_BENCH_CEILING", False):
    # Only bench/intake.py and bench/validate.py set this, for the gunicorn it starts on loopback.
    from bench.ceiling_view import ceiling_insert, json_minimal

    urlpatterns.append(path("bench/ceiling/", ceiling_insert, name="bench-ceiling"))
    urlpatterns.append(path("bench/json/", json_minimal, name="bench-json"))

handler400 = "orderdesk.views.bad_request"
handler404 = "orderdesk.views.not_found"
handler500 = "orderdesk.views.server_error"
