"""django-import-export Resources for orders in and out of spreadsheets.

OrderLineImportResource — the import. One row is one order line; the rows with
the same customer code and PO number form one order. django-import-export runs
it: `import_data(dataset, dry_run=True)` is the preview (in a transaction it rolls
back), `import_data(dataset, dry_run=False)` the run of one batch. Its fields and
widgets read each row's cells (the errors a row has on its own, named by column);
what needs the whole order or the database (unknown customer, SKU no longer sold,
an order already imported, the order service's checks) is decided per order in
`after_import` by orders.services.imports, which is also what stores the orders:
through orders.services.intake.orders_submit, never a model save here.

OrderLineExportResource — the export's columns (a ModelResource over the order
lines): the backlog export, /imports/ export, `manage.py export_orders` and the
admin all write its rows (orders.exports streams them). Every text cell is
neutralised against formula injection here, by our own rule
(orders.spreadsheets.neutralise), not django-import-export's escaping, which covers
only part of what a spreadsheet reads as a formula.
"""

import re
from contextlib import nullcontext
from datetime import date

from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from licensing.models import JAPAN
from orders.models import Order, OrderLine
from orders.services import imports
from orders.spreadsheets import neutralise

# --- Import -----------------------------------------------------------------------------


class RequiredText(widgets.Widget):
    """A cell that must not be empty (the reader has NFKC-normalised and stripped it already)."""

    def __init__(self, column: str):
        super().__init__()
        self.column = column

    def clean(self, value, row=None, **kwargs):
        if not value:
            raise ValueError(_("%(column)s is empty.") % {"column": imports.column_labels()[self.column]})
        return value


class Text(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return value or ""


_QUANTITY = re.compile(r"[0-9]+")


class Quantity(widgets.Widget):
    """A whole number of at least 1; thousands separators allowed ("1,000", as Excel writes it)."""

    def clean(self, value, row=None, **kwargs):
        text = (value or "").replace(",", "")
        if not _QUANTITY.fullmatch(text) or int(text) < 1:
            raise ValueError(_("The quantity must be a whole number of at least 1; this is “%(value)s”.") % {"value": value or ""})
        return int(text)


_DATE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")


class Day(widgets.Widget):
    """YYYY-MM-DD or YYYY/MM/DD (an XLSX date cell arrives as YYYY-MM-DD); empty is no date."""

    def clean(self, value, row=None, **kwargs):
        if not value:
            return None
        match = _DATE.fullmatch(value.split(" ")[0].split("T")[0])
        try:
            return date(*(int(part) for part in match.groups()))
        except (AttributeError, ValueError):  # no match, or no such day (2026-02-30)
            raise ValueError(_("“%(value)s” is not a date; write it as YYYY-MM-DD or YYYY/MM/DD.") % {"value": value}) from None


class OrderLineImportResource(resources.Resource):
    """A spreadsheet's rows into orders (see the module's docstring). The dataset comes from
    orders.services.imports.read_dataset: its headers are these fields' names, plus `row`
    (the row's number as the spreadsheet shows it)."""

    customer = fields.Field(attribute="customer", column_name="customer", widget=RequiredText("customer"))
    po_number = fields.Field(attribute="po_number", column_name="po_number", widget=RequiredText("po_number"))
    sku = fields.Field(attribute="sku", column_name="sku", widget=RequiredText("sku"))
    quantity = fields.Field(attribute="quantity", column_name="quantity", widget=Quantity())
    requested_start = fields.Field(attribute="requested_start", column_name="requested_start", widget=Day())
    notes = fields.Field(attribute="notes", column_name="notes", widget=Text())

    class Meta:
        # A row is never an existing instance to update: "already imported" is decided per order.
        force_init_instance = True
        instance_loader_class = BaseInstanceLoader  # (never asked: every row is a new instance)
        # No row is saved on its own: the orders are stored together after the rows are read
        # (save_instance stores nothing). With use_bulk, import-export wraps no savepoint
        # around each row either (10,000 rows, 20,000 statements saved).
        use_bulk = True
        skip_diff = True  # the preview page shows our own per-row results, not import-export's diff
        report_skipped = True

    def __init__(self, *, actor=None, within=None, validate: bool | None = None):
        """`actor`: whose orders (a real run). `within(groups)`: the context manager the batch's
        orders are stored in (the import record's locked transaction, which counts them).
        `validate`: run the order service's checks before storing (default: in a dry run
        only; a real run's orders_submit runs them itself)."""
        super().__init__()
        self.actor, self.within, self.validate = actor, within, validate
        self.lines: list[imports.ImportedLine] = []
        self.groups: list[imports.OrderGroup] = []

    def before_import(self, dataset, **kwargs):
        self.lines = []

    def get_import_fields(self):
        # The same on every row; import-export works the list out again for each (a tenth of a preview's time).
        if getattr(self, "_import_fields", None) is None:
            self._import_fields = super().get_import_fields()
        return self._import_fields

    def init_instance(self, row=None):
        values = {column: row[column] for column in imports.COLUMNS if column in row}
        line = imports.ImportedLine(row=int(row["row"]), values=values)
        self.lines.append(line)
        return line

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        line = self.lines[-1]
        line.row_result = row_result
        if row_result.validation_error is not None:
            for column, messages in row_result.validation_error.message_dict.items():
                line.fail(column, " ".join(messages))
        elif row_result.errors:  # not the file: a fault of ours (re-raised by imports.run_resource)
            line.fail(None, str(row_result.errors[0].error))
        return row_result

    def save_instance(self, instance, is_create, row, **kwargs):
        """Nothing is saved per row: the order is stored with its other rows in after_import."""

    def after_import(self, dataset, result, **kwargs):
        dry_run = kwargs.get("dry_run", False)
        self.groups = imports.group_lines(self.lines)
        imports.check_groups(self.groups, validate=dry_run if self.validate is None else self.validate)
        if not dry_run:
            imports.submit_groups(self.groups, actor=self.actor, within=self.within or (lambda groups: nullcontext()))
        imports.settle_result(result, self.lines)


# --- Export -----------------------------------------------------------------------------


class AsIs(widgets.Widget):
    """Numbers stay numbers (yen as integers: a number cell in XLSX), None an empty cell."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value


class SafeText(widgets.Widget):
    """Text a spreadsheet shows as text: neutralised when it could start a formula."""

    def render(self, value, obj=None, **kwargs):
        return neutralise("" if value is None else str(value))


def _column(attribute: str, name: str, widget=None) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=name, widget=widget or AsIs())


class OrderLineExportResource(resources.ModelResource):
    """One row per order line: the import template's columns first (an export can be edited and
    imported again), then the order's number, status and yen amounts. Dates and times in Japan.
    Headers in Japanese or English (`language`)."""

    customer = _column("order__customer__code", "customer", SafeText())
    po_number = _column("order__po_number", "po_number", SafeText())
    sku = _column("sku", "sku", SafeText())
    quantity = _column("quantity", "quantity")
    requested_start = _column("order__requested_start", "requested_start")
    notes = _column("order__notes", "notes", SafeText())
    order_number = _column("order__number", "order_number", SafeText())
    customer_name = _column("order__customer__name", "customer_name", SafeText())
    status = _column("order__status", "status")
    source = _column("order__source", "source")
    received_at = _column("order__created_at", "received_at")
    line = _column("position", "line")
    product_name = _column("product_name", "product_name", SafeText())
    unit_price = _column("unit_price", "unit_price")
    amount = _column("amount", "amount")
    subtotal = _column("order__subtotal", "subtotal")
    tax = _column("order__tax", "tax")
    total = _column("order__total", "total")

    HEADERS_JA = ["顧客コード", "注文書番号", "品番", "数量", "希望開始日", "備考", "注文番号", "顧客名", "状態", "受付経路",
                  "受付日時", "行", "品名", "単価", "金額", "小計", "消費税", "合計"]  # fmt: skip

    class Meta:
        model = OrderLine
        fields = ("customer", "po_number", "sku", "quantity", "requested_start", "notes", "order_number", "customer_name",
                  "status", "source", "received_at", "line", "product_name", "unit_price", "amount", "subtotal", "tax",
                  "total")  # fmt: skip
        export_order = fields

    def __init__(self, *, language: str = "ja", **kwargs):
        super().__init__(**kwargs)
        self.language = "ja" if language.startswith("ja") else "en"
        self._statuses = {value: str(label) for value, label in Order.Status.choices}
        self._sources = {value: str(label) for value, label in Order.Source.choices}

    def get_export_headers(self, selected_fields=None):
        if self.language == "ja" and not selected_fields:
            return list(self.HEADERS_JA)
        return super().get_export_headers(selected_fields)

    def dehydrate_requested_start(self, line: OrderLine) -> str:
        return line.order.requested_start.isoformat() if line.order.requested_start else ""

    def dehydrate_status(self, line: OrderLine) -> str:
        return self._statuses.get(line.order.status, line.order.status)

    def dehydrate_source(self, line: OrderLine) -> str:
        return self._sources.get(line.order.source, line.order.source)

    def dehydrate_received_at(self, line: OrderLine) -> str:
        return line.order.created_at.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M:%S")
