from django.urls import path

from orders import import_views

app_name = "imports"

urlpatterns = [
    path("", import_views.imports_home, name="home"),
    path("template.<str:extension>", import_views.import_template, name="template"),
    path("export/", import_views.orders_export, name="export"),
    path("backlog-export/", import_views.backlog_export, name="backlog_export"),
    path("<int:pk>/", import_views.import_detail, name="detail"),
    path("<int:pk>/progress/", import_views.import_progress, name="progress"),
    path("<int:pk>/confirm/", import_views.import_confirm_view, name="confirm"),
    path("<int:pk>/failed-rows.csv", import_views.import_failed_rows, name="failed_rows"),
]
