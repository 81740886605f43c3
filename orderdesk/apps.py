from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps  # the module: a class imported here would count as ours


class OrderdeskConfig(AppConfig):
    name = "orderdesk"
    verbose_name = "Orderdesk"
    default = True  # the config of the "orderdesk" entry in INSTALLED_APPS

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(use_language_preference, dispatch_uid="orderdesk-language-preference")


def use_language_preference(sender, request, user, **kwargs) -> None:
    """At sign-in the pages switch to the language the user chose before, on any browser."""
    from orderdesk.middleware import SESSION_LANGUAGE_KEY
    from orderdesk.models import UserPreference

    if request is None or not hasattr(request, "session"):
        return
    language = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
    if language:
        request.session[SESSION_LANGUAGE_KEY] = language


class OrderdeskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site, open to superusers only."""

    default = False
    default_site = "orderdesk.admin_site.OrderdeskAdminSite"
