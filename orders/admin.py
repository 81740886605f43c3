from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats import base_formats
from import_export.forms import ExportForm

from orders import exports
from orders.resources import OrderLineExportResource
from orders.models import Order, OrderEvent, OrderImport, OrderLine


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
class OrderAdmin(ExportMixin, admin.ModelAdmin):
    """Read-only here: orders change state only through the services (backlog pages, pipeline).

    Export (django-import-export's ExportMixin: the change list's "Export" button, the
    orders as filtered there) and the two actions (the selected orders) write
    OrderLineExportResource's rows through orders.exports: formula-safe cells by our rule,
    CSV streamed. No import here (no ImportMixin): the admin's import runs the whole file
    in the request with no limit checked before the file is opened, so imports go through
    /imports/ (preview, then the `imports` queue's worker) or `manage.py import_orders`.
    """

    list_display = ["number", "customer", "po_number", "status", "total", "source", "created_at"]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["number", "po_number", "customer__code", "customer__name"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]
    actions = ["export_csv", "export_xlsx"]
    resource_classes = [OrderLineExportResource]
    export_form_class = ExportForm  # the columns are the Resource's, fixed (the import template's first)

    def get_export_formats(self):
        return [base_formats.CSV, base_formats.XLSX]

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        # Not import-export's own file writing, which holds every row of the export in one
        # Dataset and escapes only part of what a spreadsheet reads as a formula: the same
        # Resource's rows, streamed and neutralised as /imports/ writes them.
        return exports.export_response(queryset, prefix="orders", file_format=file_format.get_extension())

    @admin.action(description=_("Export the selected orders as CSV"))
    def export_csv(self, request, queryset):
        return exports.export_response(queryset, prefix="orders", file_format="csv")

    @admin.action(description=_("Export the selected orders as XLSX"))
    def export_xlsx(self, request, queryset):
        return exports.export_response(queryset, prefix="orders", file_format="xlsx")

    def get_readonly_fields(self, request, obj=None):
        # The duplicate links too: an editable many-to-many would offer every order ever placed as a choice.
        return [field.name for field in (*self.model._meta.fields, *self.model._meta.many_to_many)]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OrderImport)
class OrderImportAdmin(admin.ModelAdmin):
    """The import records, read only: imports run from /imports/ or `manage.py import_orders`."""

    list_display = ["created_at", "file_name", "created_by", "status", "rows_total", "created_count", "skipped_count", "failed_count"]
    list_filter = ["status"]
    search_fields = ["file_name", "file_sha256", "created_by__username"]
    exclude = ["preview", "failed_rows"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name not in self.exclude]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
