from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from orders.api import schema  # noqa: F401 — registers the schema of POST /api/v1/orders/ with drf-spectacular
