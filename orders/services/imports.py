"""Orders from a spreadsheet: preview, then run — every order born through order_submit.

    import_preview(content, file_name, sheet)  → ImportPreview: every row with its outcome, nothing written
    import_start(user, content, file_name, sheet) → an OrderImport record in `previewed`, with the file
    import_upload(...)                         → the same, previewed by the worker when the file is large
    import_confirm(order_import)               → queued; the `imports` queue's task runs it
    import_run(import_id, max_seconds)         → creates the next orders; True once the file is done

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from licensing.models import Customer, Product
from licensing.selectors import priced_products
from orderdesk.audit import Actor
from orders.models import Order, OrderImport
from orders.services.intake import DuplicatePoNumber, FieldError, OrderInvalid, Submission, order_validate, orders_submit
from orders.services.order_writer import order_numbers
from orders.spreadsheets import SpreadsheetRefused, Table, read_table

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
class RowResult:
    row: int  # as the spreadsheet numbers it (the header is row 1)
    values: dict[str, str]
    outcome: str = Outcome.NEW
    column: str | None = None
    message: str = ""
    order_number: str = ""

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
    rows: list[RowResult] = field(default_factory=list)
    customer: Customer | None = None
    data: dict | None = None  # the order in the API body's shape, once its rows are readable

    @property
    def failed(self) -> bool:
        return any(row.outcome == Outcome.ERROR for row in self.rows)

    def fail(self, row: RowResult, column: str | None, message: str) -> None:
        if row.outcome != Outcome.ERROR:
            row.outcome, row.column, row.message = Outcome.ERROR, column, message
        else:
            row.message = f"{row.message} {message}"

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
    rows: list[RowResult]

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def new_orders(self) -> int:
        return sum(1 for group in self.groups if not group.failed and group.rows[0].outcome == Outcome.NEW)

    @property
    def skipped_orders(self) -> int:
        return sum(1 for group in self.groups if group.rows[0].outcome == Outcome.SKIPPED)

    @property
    def failed_orders(self) -> int:
        return sum(1 for group in self.groups if group.failed)

    def summary(self) -> dict:
        """What the record keeps of the preview (the rows shown in the page: IMPORT_PREVIEW_ROWS_SHOWN)."""
        return {
            "rows": len(self.rows),
            "orders": len(self.groups),
            "new_rows": self.count(Outcome.NEW),
            "skipped_rows": self.count(Outcome.SKIPPED),
            "error_rows": self.count(Outcome.ERROR),
            "new_orders": self.new_orders,
            "skipped_orders": self.skipped_orders,
            "failed_orders": self.failed_orders,
            "shown": [row.as_dict() for row in self.rows[: settings.IMPORT_PREVIEW_ROWS_SHOWN]],
        }


class ImportRefused(Exception):
    """The file as a whole cannot be imported (unreadable, over a limit, a required column missing)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


# --- Preview ---------------------------------------------------------------------------


def import_preview(*, content: bytes, file_name: str, sheet: str | None = None) -> ImportPreview:
    """Every row of the file with its outcome (new order, already imported, or an error naming row and column). Writes nothing."""
    try:
        table = read_table(content, file_name=file_name, sheet=sheet)
    except SpreadsheetRefused as error:
        raise ImportRefused(error.message) from None
    groups = _groups(table)
    _check_groups(groups)
    rows = sorted((row for group in groups for row in group.rows), key=lambda row: row.row)
    return ImportPreview(groups=groups, rows=rows)


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


def _groups(table: Table) -> list[OrderGroup]:
    index = _header_index(table.header)
    groups: dict[tuple[str, str], OrderGroup] = {}
    for number, cells in table.rows:
        values = {column: (cells[position] if position < len(cells) else "") for column, position in index.items()}
        row = RowResult(row=number, values=values)
        key = (values["customer"], values["po_number"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = OrderGroup(customer_code=key[0], po_number=key[1])
        group.rows.append(row)
    return list(groups.values())


def _check_groups(groups: list[OrderGroup], *, validate: bool = True) -> None:
    """Fill in each group's outcome: its rows' errors, skipped (imported before), or new with its `data`."""
    customers = {customer.code: customer for customer in Customer.objects.filter(code__in={group.customer_code for group in groups})}
    skus = {row.values["sku"] for group in groups for row in group.rows}
    catalog = priced_products(skus) if validate else {}
    inactive = set(Product.objects.filter(sku__in=skus, is_active=False).values_list("sku", flat=True))
    existing = _existing_orders(groups, customers)
    labels = column_labels()
    for group in groups:
        _read_group(group, customers, inactive, labels)
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


_QUANTITY = re.compile(r"[0-9]+")
_DATE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")


def _read_group(group: OrderGroup, customers: dict, inactive: set, labels: dict) -> None:
    """Check each row's cells and build the group's order, in the API body's shape."""
    first = group.rows[0]
    if not group.customer_code:
        group.fail(first, "customer", _("%(column)s is empty.") % {"column": labels["customer"]})
    else:
        customer = customers.get(group.customer_code)
        if customer is None:
            group.fail(first, "customer", _("There is no customer with the code %(code)s.") % {"code": group.customer_code})
        elif not customer.is_active:
            group.fail(first, "customer", _("Customer %(code)s is inactive.") % {"code": group.customer_code})
        group.customer = customer
    if not group.po_number:
        group.fail(first, "po_number", _("%(column)s is empty.") % {"column": labels["po_number"]})
    lines = []
    requested_start, notes = None, ""
    for row in group.rows:
        sku = row.values["sku"]
        if not sku:
            group.fail(row, "sku", _("%(column)s is empty.") % {"column": labels["sku"]})
        elif sku in inactive:
            group.fail(row, "sku", _("Product %(sku)s is no longer sold.") % {"sku": sku})
        text = row.values["quantity"].replace(",", "")
        if not _QUANTITY.fullmatch(text) or int(text) < 1:
            group.fail(row, "quantity", _("The quantity must be a whole number of at least 1; this is “%(value)s”.") % {"value": row.values["quantity"]})
            quantity = 0
        else:
            quantity = int(text)
        lines.append({"sku": sku, "quantity": quantity})
        start = row.values.get("requested_start", "")
        if start:
            day = _date(start)
            if day is None:
                group.fail(row, "requested_start", _("“%(value)s” is not a date; write it as YYYY-MM-DD or YYYY/MM/DD.") % {"value": start})
            elif requested_start is not None and day != requested_start:
                group.fail(row, "requested_start", _("The requested start differs from the order's other rows (%(day)s).") % {"day": requested_start.isoformat()})
            else:
                requested_start = day
        note = row.values.get("notes", "")
        if note and note not in notes:
            notes = f"{notes}\n{note}" if notes else note
    if not group.failed:
        group.data = {
            "po_number": group.po_number,
            "lines": lines,
            "requested_start": requested_start.isoformat() if requested_start else None,
            "notes": notes,
        }


def _date(text: str) -> date | None:
    match = _DATE.fullmatch(text.split(" ")[0].split("T")[0])
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


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
    """Create the import's next orders through order_submit until the file is done (True) or `max_seconds` pass (False).

    Each batch of IMPORT_BATCH_ORDERS orders commits with the record's progress,
    under the record's row lock, so two runs of the same import (a redelivered
    message and a person confirming again) take turns and never repeat a batch.
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
        table = read_table(content, file_name=record.file_name, sheet=record.sheet or None)
        groups = _groups(table)
    except (SpreadsheetRefused, ImportRefused) as error:
        OrderImport.objects.filter(pk=import_id).update(status=OrderImport.Status.FAILED, error=error.message, finished_at=timezone.now())
        return True
    actor = Actor.staff(record.created_by) if record.created_by else Actor.system(COMMAND_ACTOR)
    batch_size = settings.IMPORT_BATCH_ORDERS
    while True:
        # The batch is checked and its order numbers drawn before the transaction: the
        # transaction then holds the record's row alone (not the number sequence's, which
        # every new order from the API needs) while the batch is written.
        start = OrderImport.objects.filter(pk=import_id).values_list("next_group", flat=True).get()
        batch = groups[start : start + batch_size]
        if batch:
            _check_groups(batch, validate=False)  # orders_submit validates each order itself
            numbers = order_numbers(sum(1 for group in batch if _is_new(group)))
        with transaction.atomic():
            record = OrderImport.objects.select_for_update().get(pk=import_id)
            if record.next_group != start:
                continue  # another run of this import moved on meanwhile (its numbers are left unused)
            if not batch:
                record.status, record.finished_at = OrderImport.Status.DONE, timezone.now()
                record.save(update_fields=["status", "finished_at"])
                return True
            _run_batch(record, batch, actor, numbers)
            record.next_group = start + len(batch)
            record.save(update_fields=["next_group", "rows_done", "created_count", "skipped_count", "failed_count", "failed_rows"])
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            return False


def _is_new(group: OrderGroup) -> bool:
    return not group.failed and group.rows[0].outcome == Outcome.NEW


def _run_batch(record: OrderImport, batch: list[OrderGroup], actor: Actor, numbers: list[str]) -> None:
    """Submit the batch's new orders together (checked already), and count every group's outcome."""
    new = []
    for group in batch:
        record.rows_done += len(group.rows)
        if group.failed:
            _record_failure(record, group)
        elif group.rows[0].outcome == Outcome.SKIPPED:
            record.skipped_count += 1
        else:
            new.append(group)
    results = orders_submit(
        submissions=[Submission(customer=group.customer, data=group.data) for group in new], actor=actor,
        source=Order.Source.IMPORT, numbers=numbers,
    )  # fmt: skip
    for group, result in zip(new, results, strict=True):
        if isinstance(result, Order):
            record.created_count += 1
            continue
        if isinstance(result, DuplicatePoNumber):
            _existing_order(group, result.existing.number, result.existing.source)
        else:
            _fail_from_field_errors(group, result.errors)
            group.fail_rest()
        if group.failed:
            _record_failure(record, group)
        else:
            record.skipped_count += 1


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
