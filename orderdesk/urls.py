from django.contrib import admin
from django.urls import include, path

from orderdesk import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("backlog/", include("orders.urls")),
    path("api/", include("orderdesk.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
]

handler400 = "orderdesk.views.bad_request"
handler404 = "orderdesk.views.not_found"
handler500 = "orderdesk.views.server_error"
