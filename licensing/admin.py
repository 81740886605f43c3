from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from licensing.models import ApiToken, Customer, PriceTier, Product


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    extra = 1


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name_ja", "name_en", "kind", "term_months", "tax_rate", "is_active"]
    list_filter = ["kind", "is_active", "tax_rate"]
    search_fields = ["sku", "name_ja", "name_en"]
    inlines = [PriceTierInline]


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ["name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # tokens are issued with the action below, which shows the key once


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "honorific", "credit_limit", "manual_approval", "is_active"]
    list_filter = ["is_active", "manual_approval", "honorific"]
    search_fields = ["code", "name", "billing_email"]
    inlines = [ApiTokenInline]
    actions = ["issue_token"]

    @admin.action(description=_("Issue an API token (shown once)"))
    def issue_token(self, request, queryset):
        for customer in queryset:
            _token, raw_key = ApiToken.objects.issue(customer=customer, name=f"admin:{request.user.get_username()}")
            self.message_user(
                request, _("Token for %(code)s (copy it now, it is not stored): %(key)s") % {"code": customer.code, "key": raw_key},
                messages.WARNING,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["customer", "name", "prefix", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["customer__code", "customer__name", "name", "prefix"]
    readonly_fields = ["customer", "prefix", "created_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})
