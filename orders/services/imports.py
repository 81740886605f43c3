"""Orders from a spreadsheet: preview, then run — every order born through order_submit.

    import_preview(content, file_name, sheet)  → ImportPreview: every row with its outcome, nothing written
    import_start(user, content, file_name, sheet) → an OrderImport record in `previewed`, with the file
    import_upload(...)                         → the same, previewed by the worker when the file is large
    import_confirm(order_import)               → queued; the `imports` queue's task runs it
    import_run(import_id, max_seconds)         → creates the next orders; True once the file is done

django-import-export runs both: the file is read into a tablib Dataset
(read_dataset) and handed to orders.resources.OrderLineImportResource, whose
`import_data(dry_run=True)` is the preview and `import_data(dry_run=False)` the
run of one batch. The Resource's fields read each row's cells; the functions
here decide what needs the whole order (its hooks call them): group_lines,
check_groups, submit_groups (orders_submit) and settle_result.

One row per order line; the rows with the same customer code and PO number
form one order. An order is identified by its customer and PO number: a row
group whose order exists already (from an earlier import) is skipped, so
re-importing a file, or one that overlaps it, creates only what is new. An
existing order from elsewhere (the API, a quote) under that PO number is an
error: the file names an order the customer already placed another way.

The run stores IMPORT_BATCH_ORDERS orders per transaction together with the
record's progress (which order of the file comes next, the counts, the failed
rows), with the record's row locked. A worker killed midway loses only the
uncommitted batch; the next run (the redelivered message, or the person
confirming again) resumes there, and order_submit's unique PO number keeps it
from creating an order twice in any case.
"""

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.results import InvalidRow
from import_export.results import RowResult as ResourceRowResult

from licensing.models import Customer, Product
from licensing.selectors import priced_products
from orderdesk.audit import Actor
from orders.models import Order, OrderImport
from orders.services.intake import DuplicatePoNumber, FieldError, OrderInvalid, Submission, order_validate, orders_submit
from orders.services.order_writer import order_numbers
from orders.spreadsheets import SpreadsheetRefused, read_table

# The columns, each with the headers that name it (Japanese, English; matched ignoring case, spaces and underscores).
COLUMNS = {
    "customer": ("顧客コード", "customer", "customer code", "customer_code"),
    "po_number": ("注文書番号", "po_number", "po number", "po"),
    "sku": ("品番", "sku"),
    "quantity": ("数量", "quantity", "qty"),
    "requested_start": ("希望開始日", "requested_start", "requested start"),
    "notes": ("備考", "notes"),
}
# The actor of orders imported by `manage.py import_orders` without --user.
COMMAND_ACTOR = "import:command"
REQUIRED_COLUMNS = ("customer", "po_number", "sku", "quantity")
# The template's header rows, in the column order above.
TEMPLATE_HEADERS = {
    "ja": ["顧客コード", "注文書番号", "品番", "数量", "希望開始日", "備考"],
    "en": ["customer", "po_number", "sku", "quantity", "requested_start", "notes"],
}


def column_labels() -> dict[str, str]:
    """Each column as a person reads it in messages: "数量 (quantity)"."""
    return {column: f"{names[0]} ({names[1]})" for column, names in COLUMNS.items()}


class Outcome:
    NEW = "new"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass
class ImportedLine:
    """One row of the file: the Resource's instance. Its fields fill in the cleaned cells."""

    row: int  # as the spreadsheet numbers it (the header is row 1)
    values: dict[str, str]  # the cells as read (for the preview and the failed rows' CSV)
    outcome: str = Outcome.NEW
    column: str | None = None
    message: str = ""
    order_number: str = ""
    # Set by OrderLineImportResource's fields when the cell is readable.
    customer: str = ""
    po_number: str = ""
    sku: str = ""
    quantity: int = 0
    requested_start: date | None = None
    notes: str = ""
    row_result: ResourceRowResult | None = None  # django-import-export's result for the row

    def fail(self, column: str | None, message: str) -> None:
        if self.outcome != Outcome.ERROR:
            self.outcome, self.column, self.message = Outcome.ERROR, column, message
        else:
            self.message = f"{self.message} {message}"

    def __str__(self) -> str:
        return f"row {self.row}"

    def as_dict(self) -> dict:
        return {
            "row": self.row, "values": self.values, "outcome": self.outcome, "column": self.column,
            "message": self.message, "order_number": self.order_number,
        }  # fmt: skip


@dataclass
class OrderGroup:
    """The rows of one order in the file."""

    customer_code: str
    po_number: str
    rows: list[ImportedLine] = field(default_factory=list)
    customer: Customer | None = None
    data: dict | None = None  # the order in the API body's shape, once its rows are readable
    created: bool = False

    @property
    def failed(self) -> bool:
        return any(row.outcome == Outcome.ERROR for row in self.rows)

    @property
    def is_new(self) -> bool:
        return not self.failed and self.rows[0].outcome == Outcome.NEW

    def fail(self, row: ImportedLine, column: str | None, message: str) -> None:
        row.fail(column, message)

    def fail_rest(self) -> None:
        """The order is not imported: say so on each of its rows that has no error of its own."""
        first = next(row.row for row in self.rows if row.outcome == Outcome.ERROR)
        for row in self.rows:
            if row.outcome != Outcome.ERROR:
                row.outcome, row.column = Outcome.ERROR, None
                row.message = _("Not imported: row %(row)d of the same order has an error.") % {"row": first}

    def skip(self, order_number: str) -> None:
        for row in self.rows:
            row.outcome, row.order_number = Outcome.SKIPPED, order_number
            row.message = _("Already imported as order %(number)s.") % {"number": order_number}


@dataclass
class ImportPreview:
    groups: list[OrderGroup]
    rows: list[ImportedLine]

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def new_orders(self) -> int:
        return sum(1 for group in self.groups if group.is_new)

    @property
    def skipped_orders(self) -> int:
        return sum(1 for group in self.groups if group.rows[0].outcome == Outcome.SKIPPED)

    @property
    def failed_orders(self) -> int:
        return sum(1 for group in self.groups if group.failed)

    def summary(self) -> dict:
        """What the record keeps of the preview (the rows shown in the page: IMPORT_PREVIEW_ROWS_SHOWN).

        The rows with errors come first, so that a person sees what to fix even
        when it lies past the rows the page lists; then the others, in file order.
        """
        errors = [row for row in self.rows if row.outcome == Outcome.ERROR]
        others = [row for row in self.rows if row.outcome != Outcome.ERROR]
        return {
            "rows": len(self.rows),
            "orders": len(self.groups),
            "new_rows": self.count(Outcome.NEW),
            "skipped_rows": self.count(Outcome.SKIPPED),
            "error_rows": self.count(Outcome.ERROR),
            "new_orders": self.new_orders,
            "skipped_orders": self.skipped_orders,
            "failed_orders": self.failed_orders,
            "shown": [row.as_dict() for row in (errors + others)[: settings.IMPORT_PREVIEW_ROWS_SHOWN]],
        }


class ImportRefused(Exception):
    """The file as a whole cannot be imported (unreadable, over a limit, a required column missing)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


# --- The file into a Dataset ------------------------------------------------------------


def read_dataset(content: bytes, *, file_name: str, sheet: str | None = None) -> tablib.Dataset:
    """The file as a tablib Dataset for the Resource: a `row` column (the row's number in the
    spreadsheet), then the file's columns named by the Resource's field names. ImportRefused
    when the file cannot be read or lacks a required column.

    The file is read by orders.spreadsheets.read_table, not by django-import-export's
    formats (base_formats.CSV/XLSX): those open an XLSX with nothing checked first (a zip
    bomb is expanded before any limit applies), read only its active sheet, decode only
    one given encoding (no cp932 fallback for Japanese Excel's CSV), and drop blank lines
    without keeping the spreadsheet's row numbers, which every error message names.
    """
    try:
        table = read_table(content, file_name=file_name, sheet=sheet)
    except SpreadsheetRefused as error:
        raise ImportRefused(error.message) from None
    index = _header_index(table.header)
    columns = list(index.items())
    dataset = tablib.Dataset(headers=["row", *(column for column, _position in columns)])
    for number, cells in table.rows:
        dataset.append([number, *(cells[position] if position < len(cells) else "" for _column, position in columns)])
    return dataset


def _header_index(header: list[str]) -> dict[str, int]:
    def key(text: str) -> str:
        return re.sub(r"[\s_]+", " ", text).strip().lower()

    names = {key(name): column for column, names in COLUMNS.items() for name in names}
    index: dict[str, int] = {}
    for position, title in enumerate(header):
        column = names.get(key(title))
        if column is not None and column not in index:
            index[column] = position
    missing = [column for column in REQUIRED_COLUMNS if column not in index]
    if missing:
        labels = column_labels()
        raise ImportRefused(
            _("The header row lacks the column(s) %(columns)s. Download the template to see the headers.")
            % {"columns": ", ".join(labels[column] for column in missing)}
        )
    return index


def _resource(**kwargs):
    from orders.resources import OrderLineImportResource  # noqa: PLC0415 — the Resource calls back into this module

    return OrderLineImportResource(**kwargs)


def run_resource(resource, dataset: tablib.Dataset, *, dry_run: bool):
    """The Resource's import_data; a fault of ours (not the file's) raised, not kept as a row's error."""
    # A dry run in a transaction import-export rolls back: the preview cannot write. A real run
    # uses none of import-export's: its batch's orders commit in `within`'s transaction, whose
    # order numbers are drawn before it (see import_run).
    result = resource.import_data(dataset, dry_run=dry_run, use_transactions=dry_run)
    if result.base_errors:
        raise result.base_errors[0].error
    for _number, errors in result.row_errors():
        raise errors[0].error
    return result


# --- Preview ---------------------------------------------------------------------------


def import_preview(*, content: bytes, file_name: str, sheet: str | None = None) -> ImportPreview:
    """Every row of the file with its outcome (new order, already imported, or an error naming row and column). Writes nothing."""
    resource = _resource()
    run_resource(resource, read_dataset(content, file_name=file_name, sheet=sheet), dry_run=True)
    return ImportPreview(groups=resource.groups, rows=resource.lines)


# --- What the Resource's hooks call --------------------------------------------------------


def group_lines(lines: Iterable[ImportedLine]) -> list[OrderGroup]:
    """The lines by order (customer code and PO number as written), in the order the file first names them."""
    groups: dict[tuple[str, str], OrderGroup] = {}
    for line in lines:
        key = (line.values.get("customer", ""), line.values.get("po_number", ""))
        group = groups.get(key)
        if group is None:
            group = groups[key] = OrderGroup(customer_code=key[0], po_number=key[1])
        group.rows.append(line)
    return list(groups.values())


def check_groups(groups: list[OrderGroup], *, validate: bool = True) -> None:
    """Fill in each group's outcome: its rows' errors, skipped (imported before), or new with its `data`."""
    customers = {customer.code: customer for customer in Customer.objects.filter(code__in={group.customer_code for group in groups})}
    skus = {row.sku for group in groups for row in group.rows if row.sku}
    catalog = priced_products(skus) if validate else {}
    inactive = set(Product.objects.filter(sku__in=skus, is_active=False).values_list("sku", flat=True))
    existing = _existing_orders(groups, customers)
    for group in groups:
        _read_group(group, customers, inactive)
        if group.failed:
            group.fail_rest()
            continue
        found = existing.get((group.customer.pk, group.po_number))
        if found is not None:
            _existing_order(group, *found)
            continue
        if not validate:
            continue
        try:
            order_validate(group.data, catalog=catalog)
        except OrderInvalid as error:
            _fail_from_field_errors(group, error.errors)
            group.fail_rest()


def _existing_orders(groups: Iterable[OrderGroup], customers: dict) -> dict[tuple[int, str], tuple[str, str]]:
    """(customer id, PO number) → (order number, source) of the file's orders that exist already."""
    customer_ids = {customers[group.customer_code].pk for group in groups if group.customer_code in customers}
    po_numbers = {group.po_number for group in groups}
    if not customer_ids or not po_numbers:
        return {}
    rows = Order.objects.filter(customer_id__in=customer_ids, po_number__in=po_numbers).values_list("customer_id", "po_number", "number", "source")
    return {(customer_id, po_number): (number, source) for customer_id, po_number, number, source in rows}


def _existing_order(group: OrderGroup, number: str, source: str) -> None:
    if source == Order.Source.IMPORT:
        group.skip(number)
        return
    group.fail(
        group.rows[0], "po_number",
        _("PO number %(po)s is already used by order %(number)s (placed through %(source)s).")
        % {"po": group.po_number, "number": number, "source": Order.Source(source).label},
    )  # fmt: skip
    group.fail_rest()


def _read_group(group: OrderGroup, customers: dict, inactive: set) -> None:
    """What the rows' cells alone cannot say (the Resource's fields checked those): the customer,
    SKUs no longer sold, one requested start per order; then the order in the API body's shape."""
    first = group.rows[0]
    if group.customer_code:
        customer = customers.get(group.customer_code)
        if customer is None:
            group.fail(first, "customer", _("There is no customer with the code %(code)s.") % {"code": group.customer_code})
        elif not customer.is_active:
            group.fail(first, "customer", _("Customer %(code)s is inactive.") % {"code": group.customer_code})
        group.customer = customer
    requested_start, notes = None, ""
    for row in group.rows:
        if row.sku in inactive:
            group.fail(row, "sku", _("Product %(sku)s is no longer sold.") % {"sku": row.sku})
        if row.requested_start is not None:
            if requested_start is not None and row.requested_start != requested_start:
                group.fail(row, "requested_start", _("The requested start differs from the order's other rows (%(day)s).") % {"day": requested_start.isoformat()})
            else:
                requested_start = row.requested_start
        if row.notes and row.notes not in notes:
            notes = f"{notes}\n{row.notes}" if notes else row.notes
    if not group.failed:
        group.data = {
            "po_number": group.po_number,
            "lines": [{"sku": row.sku, "quantity": row.quantity} for row in group.rows],
            "requested_start": requested_start.isoformat() if requested_start else None,
            "notes": notes,
        }


_LINE_FIELD = re.compile(r"lines\[([0-9]+)\]\.(sku|quantity)")


def _fail_from_field_errors(group: OrderGroup, errors: list[FieldError]) -> None:
    """order_validate's field errors ("lines[1].quantity") on the rows and columns they come from."""
    for error in errors:
        match = _LINE_FIELD.fullmatch(error.field or "")
        if match is not None:
            row, column = group.rows[int(match.group(1))], match.group(2)
        else:
            column = error.field if error.field in COLUMNS else None
            row = next((row for row in group.rows if column and row.values.get(column)), group.rows[0])
        message = error.message
        if error.code == "unknown_sku":
            message = _("There is no product with SKU %(sku)s.") % {"sku": row.values["sku"]}
        elif error.code == "duplicate":
            message = _("SKU %(sku)s is on another row of the same order; each SKU may appear once per order.") % {"sku": row.values["sku"]}
        group.fail(row, column, message)


def submit_groups(groups: list[OrderGroup], *, actor: Actor, within: Callable) -> None:
    """Store the new orders through orders_submit, inside `within(groups)` (a context manager: the
    import record's locked transaction). Their order numbers are drawn first, outside it: the number
    sequence's row, which every new order needs, is then not held while the batch is written."""
    new = [group for group in groups if group.is_new]
    numbers = order_numbers(len(new)) if new else []
    with within(groups):
        results = orders_submit(
            submissions=[Submission(customer=group.customer, data=group.data) for group in new], actor=actor,
            source=Order.Source.IMPORT, numbers=numbers,
        )  # fmt: skip
        for group, result in zip(new, results, strict=True):
            if isinstance(result, Order):
                group.created = True
                for row in group.rows:
                    row.order_number = result.number
            elif isinstance(result, DuplicatePoNumber):  # placed meanwhile
                _existing_order(group, result.existing.number, result.existing.source)
            else:
                _fail_from_field_errors(group, result.errors)
                group.fail_rest()


def settle_result(result, lines: list[ImportedLine]) -> None:
    """django-import-export's Result told what each row came to: new, skipped (already imported),
    or invalid with its error under its column; its totals and invalid rows counted again."""
    for import_type in result.totals:
        result.totals[import_type] = 0
    result.invalid_rows = []
    for line in lines:
        row_result = line.row_result
        if line.outcome == Outcome.ERROR:
            row_result.import_type = ResourceRowResult.IMPORT_TYPE_INVALID
            row_result.validation_error = ValidationError({line.column or NON_FIELD_ERRORS: [line.message]})
            result.invalid_rows.append(InvalidRow(number=line.row, validation_error=row_result.validation_error, values=tuple(line.values.values())))
        elif line.outcome == Outcome.SKIPPED:
            row_result.import_type, row_result.validation_error = ResourceRowResult.IMPORT_TYPE_SKIP, None
        else:
            row_result.import_type, row_result.validation_error = ResourceRowResult.IMPORT_TYPE_NEW, None
        row_result.object_repr = line.order_number or str(line)
        result.increment_row_result_total(row_result)


# --- The record and its run -----------------------------------------------------------


def import_start(*, user, content: bytes, file_name: str, sheet: str = "") -> tuple[OrderImport, ImportPreview]:
    """Preview the file and keep it with its preview in a new record (nothing else written). Raises ImportRefused."""
    preview = import_preview(content=content, file_name=file_name, sheet=sheet or None)
    record = _new_record(user=user, content=content, file_name=file_name, sheet=sheet)
    _store_preview(record, preview)
    return record, preview


def import_upload(*, user, content: bytes, file_name: str, sheet: str = "") -> OrderImport:
    """The upload page's start: a file up to IMPORT_INLINE_PREVIEW_BYTES is previewed at once (ImportRefused
    when it cannot be imported, nothing kept); a larger one is kept in `checking` and previewed by the
    `imports` queue's worker, so that no request holds a 50,000-row file."""
    if len(content) <= settings.IMPORT_INLINE_PREVIEW_BYTES:
        return import_start(user=user, content=content, file_name=file_name, sheet=sheet)[0]
    if len(content) > settings.IMPORT_MAX_FILE_BYTES:  # refused at once, as read_table would
        import_preview(content=content, file_name=file_name, sheet=sheet or None)
    from orders.tasks import check_import  # noqa: PLC0415 — tasks import the services

    record = _new_record(user=user, content=content, file_name=file_name, sheet=sheet, status=OrderImport.Status.CHECKING)
    transaction.on_commit(lambda: check_import.delay(record.pk))
    return record


def import_check(*, import_id: int) -> None:
    """Preview a kept file (the worker's half of import_upload): the record becomes `previewed`, or `failed` with why."""
    record = OrderImport.objects.get(pk=import_id)
    if record.status != OrderImport.Status.CHECKING:
        return  # checked already (a redelivered message)
    with record.file.open("rb") as stored:
        content = stored.read()
    try:
        preview = import_preview(content=content, file_name=record.file_name, sheet=record.sheet or None)
    except ImportRefused as error:
        OrderImport.objects.filter(pk=import_id, status=OrderImport.Status.CHECKING).update(
            status=OrderImport.Status.FAILED, error=error.message, finished_at=timezone.now()
        )
        return
    _store_preview(record, preview)


def _new_record(*, user, content: bytes, file_name: str, sheet: str, status: str = "") -> OrderImport:
    record = OrderImport(
        created_by=user, file_name=file_name[:255], file_sha256=hashlib.sha256(content).hexdigest(), sheet=sheet,
        status=status or OrderImport.Status.PREVIEWED,
    )  # fmt: skip
    record.file.save(_safe_name(file_name), ContentFile(content), save=False)
    record.save()
    return record


def _store_preview(record: OrderImport, preview: ImportPreview) -> None:
    record.preview, record.rows_total, record.orders_total = preview.summary(), len(preview.rows), len(preview.groups)
    record.status = OrderImport.Status.PREVIEWED
    record.save(update_fields=["preview", "rows_total", "orders_total", "status"])


def _safe_name(file_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._") or "orders"
    return name[-100:]


def import_confirm(*, order_import: OrderImport) -> bool:
    """Queue the import's run (on commit). A finished import is not run again; an unfinished one resumes. True when queued."""
    from orders.tasks import run_import  # noqa: PLC0415 — tasks import the services

    updated = (
        OrderImport.objects.filter(pk=order_import.pk)
        .exclude(status__in=[OrderImport.Status.DONE, OrderImport.Status.CHECKING])
        .exclude(status=OrderImport.Status.FAILED, started_at__isnull=True)  # the file could not be read
        .update(status=OrderImport.Status.QUEUED)
    )
    if not updated:
        return False
    transaction.on_commit(lambda: run_import.delay(order_import.pk))
    return True


def import_run(*, import_id: int, max_seconds: float | None = None) -> bool:
    """Create the import's next orders through the Resource until the file is done (True) or `max_seconds` pass (False).

    Each batch of IMPORT_BATCH_ORDERS orders is one `import_data` of the Resource over the
    batch's rows; its orders commit with the record's progress, under the record's row lock,
    so two runs of the same import (a redelivered message and a person confirming again) take
    turns and never repeat a batch.
    """
    started = time.monotonic()
    record = OrderImport.objects.select_related("created_by").get(pk=import_id)
    if record.status == OrderImport.Status.DONE:
        return True
    OrderImport.objects.filter(pk=import_id, started_at__isnull=True).update(started_at=timezone.now())
    OrderImport.objects.filter(pk=import_id).update(status=OrderImport.Status.RUNNING)
    with record.file.open("rb") as stored:
        content = stored.read()
    try:
        dataset = read_dataset(content, file_name=record.file_name, sheet=record.sheet or None)
    except ImportRefused as error:
        OrderImport.objects.filter(pk=import_id).update(status=OrderImport.Status.FAILED, error=error.message, finished_at=timezone.now())
        return True
    del content
    actor = Actor.staff(record.created_by) if record.created_by else Actor.system(COMMAND_ACTOR)
    orders = _rows_by_order(dataset)
    batch_size = settings.IMPORT_BATCH_ORDERS
    while True:
        start = OrderImport.objects.filter(pk=import_id).values_list("next_group", flat=True).get()
        batch = orders[start : start + batch_size]
        if not batch:
            with transaction.atomic():
                record = OrderImport.objects.select_for_update().get(pk=import_id)
                if record.next_group == start:
                    record.status, record.finished_at = OrderImport.Status.DONE, timezone.now()
                    record.save(update_fields=["status", "finished_at"])
                    return True
            continue
        rows = sorted(index for order in batch for index in order)
        resource = _resource(actor=actor, within=_batch_transaction(import_id, start, len(batch)))
        try:
            run_resource(resource, tablib.Dataset(*(dataset[index] for index in rows), headers=dataset.headers), dry_run=False)
        except BatchTaken:
            continue  # another run of this import moved on meanwhile (its numbers are left unused)
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            return False


def _rows_by_order(dataset: tablib.Dataset) -> list[list[int]]:
    """The dataset's row indexes of each order, in the order the file first names them (as group_lines groups them)."""
    orders: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(zip(dataset["customer"], dataset["po_number"], strict=True)):
        orders.setdefault(key, []).append(index)
    return list(orders.values())


class BatchTaken(Exception):
    """Another run of the same import stored this batch meanwhile."""


def _batch_transaction(import_id: int, start: int, size: int):
    """The batch's transaction for the Resource's run (`within`): the record locked and still at this
    batch, then, once its orders are stored, its progress and counts saved with them."""

    @contextmanager
    def within(groups: list[OrderGroup]):
        with transaction.atomic():
            record = OrderImport.objects.select_for_update().get(pk=import_id)
            if record.next_group != start:
                raise BatchTaken
            yield
            for group in groups:
                record.rows_done += len(group.rows)
                if group.failed:
                    _record_failure(record, group)
                elif group.created:
                    record.created_count += 1
                else:
                    record.skipped_count += 1
            record.next_group = start + size
            record.save(update_fields=["next_group", "rows_done", "created_count", "skipped_count", "failed_count", "failed_rows"])

    return within


def _record_failure(record: OrderImport, group: OrderGroup) -> None:
    record.failed_count += 1
    record.failed_rows.extend(
        {"row": row.row, "column": row.column, "message": row.message, "values": row.values} for row in group.rows
    )


FAILED_ROWS_ERROR_HEADER = {"ja": ["行", "エラーの列", "エラー"], "en": ["row", "error column", "error"]}


def failed_rows_table(order_import: OrderImport, *, language: str) -> Iterable[list[str]]:
    """The failed rows as a spreadsheet to fix and upload again: the template's columns, then the row, column and error."""
    language = "ja" if language.startswith("ja") else "en"
    columns = list(COLUMNS)
    labels = column_labels()
    yield TEMPLATE_HEADERS[language] + FAILED_ROWS_ERROR_HEADER[language]
    for failed in order_import.failed_rows:
        column = failed.get("column")
        yield [failed["values"].get(name, "") for name in columns] + [
            str(failed["row"]), labels.get(column, "") if column else "", failed["message"],
        ]  # fmt: skip
