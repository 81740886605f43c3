from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps  # the module: a class imported here would count as ours


class OrderdeskConfig(AppConfig):
    name = "orderdesk"
    verbose_name = "Orderdesk"
    default = True  # the config of the "orderdesk" entry in INSTALLED_APPS


class OrderdeskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site, open to superusers only."""

    default = False
    default_site = "orderdesk.admin_site.OrderdeskAdminSite"
