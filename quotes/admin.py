from django.contrib import admin

from quotes.models import Quote, QuoteEvent, QuoteLine


class QuoteLineInline(admin.TabularInline):
    model = QuoteLine
    extra = 0
    readonly_fields = ["position", "product", "sku", "product_name", "unit", "quantity", "unit_price", "discount_percent", "discount_yen", "amount", "tax_rate"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class QuoteEventInline(admin.TabularInline):
    model = QuoteEvent
    extra = 0
    readonly_fields = ["created_at", "actor_label", "action", "from_status", "to_status", "reason", "data"]
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    """Read-only: quotes change only through the quote pages and their services."""

    list_display = ["number", "customer", "status", "total", "valid_until", "created_at"]
    list_filter = ["status"]
    search_fields = ["number", "customer__code", "customer__name"]
    inlines = [QuoteLineInline, QuoteEventInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
