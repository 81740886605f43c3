from django.contrib import admin

from orders.models import Order, OrderEvent, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = ["position", "product", "sku", "product_name", "unit", "quantity", "unit_price", "amount", "tax_rate"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    readonly_fields = ["created_at", "actor_label", "action", "from_status", "to_status", "reason", "data"]
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-only here: orders change state only through the services (backlog pages, pipeline)."""

    list_display = ["number", "customer", "po_number", "status", "total", "source", "created_at"]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["number", "po_number", "customer__code", "customer__name"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]

    def get_readonly_fields(self, request, obj=None):
        # The duplicate links too: an editable many-to-many would offer every order ever placed as a choice.
        return [field.name for field in (*self.model._meta.fields, *self.model._meta.many_to_many)]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
