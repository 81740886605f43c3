from django.urls import path

from control import views

app_name = "control"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/digest/", views.digest_preview, name="digest"),
    path("dashboard/digest/send/", views.digest_send_to_me, name="digest_send"),
    path("orders/", views.feed, name="feed"),
    path("metrics", views.metrics, name="metrics"),
]
