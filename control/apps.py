from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ControlConfig(AppConfig):
    """The surge control room: the managers' dashboard, the order feed, the daily digest and /metrics."""

    name = "control"
    verbose_name = _("Control room")
