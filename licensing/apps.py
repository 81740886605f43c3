from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = _("Catalog and customers")

    def ready(self):
        from licensing.api import schema  # noqa: F401 — registers the token scheme with drf-spectacular
