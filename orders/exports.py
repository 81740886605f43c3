"""Orders out to a spreadsheet: the backlog as filtered, or orders by date range and status, as CSV or XLSX.

The columns are orders.resources.OrderLineExportResource's (django-import-export):
one row per order line (oldest order first), the import template's columns first
(so an export can be edited and imported again), then the order's number, status
and yen amounts. Yen as integers, dates and times in Japan time. The Resource
neutralises every text cell by our own rule (formula injection: a customer's PO
number or notes reach the sheet of whoever opens the export).

The rows are not collected into one tablib Dataset (Resource.export would hold
every row of 100,000 orders in memory and send nothing until the last): the lines
are read a page of orders at a time and each goes through the Resource's
export_resource as it comes, so memory stays flat and the first byte leaves at
once, however many orders. CSV streams, UTF-8 with a BOM by default (Excel then
opens it as Japanese), cp932 as an option (characters cp932 lacks become "?").
XLSX is written by openpyxl's write-only workbook to a temporary file (its memory
is flat too) and sent when complete.
"""

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from licensing.models import JAPAN
from orders.models import Order, OrderLine
from orders.resources import OrderLineExportResource
from orders.spreadsheets import neutralise  # noqa: F401 — also the views' for other tables

CHUNK_ORDERS = 1000

def orders_for_export(*, statuses: Iterable[str] = (), since: date | None = None, until: date | None = None) -> QuerySet[Order]:
    """Orders received in [since, until] (Japan dates, both included) with one of `statuses` (all when empty)."""
    orders = Order.objects.all()
    if statuses:
        orders = orders.filter(status__in=list(statuses))
    if since is not None:
        orders = orders.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=JAPAN))
    if until is not None:
        orders = orders.filter(created_at__lt=datetime.combine(until, time.min, tzinfo=JAPAN) + _ONE_DAY)
    return orders


def export_rows(orders: QuerySet[Order], *, language: str) -> Iterator[list]:
    """The header, then one row per line of the orders (oldest order first), as the export Resource writes them."""
    resource = OrderLineExportResource(language=language)
    yield resource.get_export_headers()
    for line in _lines(orders):
        yield resource.export_resource(line)


def _lines(orders: QuerySet[Order]) -> Iterator[OrderLine]:
    """The lines of the orders with their order and customer, oldest order (by id) first, read CHUNK_ORDERS orders at a time.

    Keyset pages over the orders' primary key: each page is one short indexed
    query for the ids and one for their lines, so the first rows come at once
    and memory holds one page, however many orders match (a database cursor
    over the whole join would first sort all of it).
    """
    ids = orders.order_by("pk").values_list("pk", flat=True)
    last = 0
    while True:
        page = list(ids.filter(pk__gt=last)[:CHUNK_ORDERS])
        if not page:
            return
        yield from OrderLine.objects.filter(order_id__in=page).select_related("order__customer").order_by("order_id", "position")
        last = page[-1]


def csv_chunks(rows: Iterable[list], *, encoding: str = "utf-8") -> Iterator[bytes]:
    """The rows as CSV bytes, a chunk at a time: UTF-8 with a BOM, or cp932."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if encoding == "utf-8":
        yield b"\xef\xbb\xbf"
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % 500 == 0:
            yield _encoded(buffer, encoding)
    yield _encoded(buffer, encoding)


def _encoded(buffer: io.StringIO, encoding: str) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode(encoding, errors="replace")


def xlsx_file(rows: Iterable[list], *, title: str) -> tempfile.SpooledTemporaryFile:
    """The rows as an XLSX workbook (write-only: constant memory), in a temporary file positioned at its start."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever it starts with
            cells.append(cell)
        sheet.append(cells)
    output = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    workbook.save(output)
    output.seek(0)
    return output


def export_response(orders: QuerySet[Order], *, prefix: str, file_format: str, encoding: str = "utf-8", language: str | None = None):
    """The download of these orders: CSV streamed, or XLSX sent once written."""
    from django.http import FileResponse, StreamingHttpResponse  # noqa: PLC0415
    from django.utils.translation import get_language  # noqa: PLC0415

    rows = export_rows(orders, language=language or get_language())
    if file_format == "xlsx":
        return FileResponse(xlsx_file(rows, title=prefix), as_attachment=True, filename=export_file_name(prefix, "xlsx"))
    charset = "shift_jis" if encoding == "cp932" else "utf-8"
    response = StreamingHttpResponse(csv_chunks(rows, encoding=encoding), content_type=f"text/csv; charset={charset}")
    response["Content-Disposition"] = f'attachment; filename="{export_file_name(prefix, "csv")}"'
    return response


def export_file_name(prefix: str, extension: str) -> str:
    from django.utils import timezone  # noqa: PLC0415

    return f"{prefix}-{timezone.now().astimezone(JAPAN):%Y%m%d-%H%M}.{extension}"


def template_rows(language: str) -> list[list]:
    """The import template: its header and two example rows of one order."""
    from orders.services.imports import TEMPLATE_HEADERS  # noqa: PLC0415

    language = "ja" if language.startswith("ja") else "en"
    note = "在宅勤務者追加分" if language == "ja" else _("Additional seats for remote workers")
    return [
        TEMPLATE_HEADERS[language],
        ["DEMO1", "PO-2026-0001", "SRA-1Y", 50, "", note],
        ["DEMO1", "PO-2026-0001", "RDA-1Y", 20, "", ""],
    ]


_ONE_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)
