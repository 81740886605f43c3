"""The /admin/ site, open to superusers only (orderdesk.roles.may_open_admin).

settings.INSTALLED_APPS installs it through orderdesk.apps.OrderdeskAdminConfig, in place of django.contrib.admin.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from orderdesk.roles import may_open_admin


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form refuses whoever may not open the admin, instead of signing them in to no avail."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not may_open_admin(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class OrderdeskAdminSite(admin.AdminSite):
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request):
        # Django's default lets in anyone with staff status; a role never opens /admin/.
        return may_open_admin(request.user)
