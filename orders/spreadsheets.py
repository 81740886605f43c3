"""Spreadsheet files in and out: reading an uploaded CSV or XLSX into rows of text, writing rows safely.

No database and no rules here: orders.services.imports decides what the rows
mean, orders.exports what goes out.

Reading (`read_table`):
- CSV in UTF-8 (with or without BOM) or Shift_JIS/cp932, as Japanese Excel writes it;
- XLSX: the first sheet or a named one, cell values only (a formula gives the
  value Excel last computed), checked before it is opened: an archive whose
  uncompressed size or compression ratio is out of bounds (a zip bomb) is
  refused from its directory alone, and openpyxl parses the XML through
  defusedxml (installed with it: no entity expansion, no external entities);
- every cell NFKC-normalised (full-width digits, letters and spaces become
  ASCII) and stripped; blank rows and trailing empty columns dropped.

Writing (`neutralise`): a text cell that a spreadsheet would read as a formula
(=, +, -, @, tab, carriage return, or their full-width forms) is prefixed with
an apostrophe, so that Excel, LibreOffice and Google Sheets show it as text.
"""

import codecs
import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.utils.translation import gettext as _


class SpreadsheetRefused(Exception):
    """The file as a whole cannot be read; `message` says why, in the user's language."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Table:
    header: list[str]
    # (row number as the spreadsheet shows it, cells), blank rows left out.
    rows: list[tuple[int, list[str]]]


CSV_EXTENSIONS = (".csv", ".txt")
XLSX_EXTENSIONS = (".xlsx", ".xlsm")


def read_table(content: bytes, *, file_name: str, sheet: str | None = None) -> Table:
    """The file's header and data rows as normalised text, or SpreadsheetRefused naming the problem."""
    if len(content) > settings.IMPORT_MAX_FILE_BYTES:
        raise SpreadsheetRefused(
            _("The file is %(size)s bytes; at most %(limit)s bytes may be imported at once.")
            % {"size": f"{len(content):,}", "limit": f"{settings.IMPORT_MAX_FILE_BYTES:,}"}
        )
    name = file_name.lower()
    if name.endswith(XLSX_EXTENSIONS) or content[:4] == b"PK\x03\x04":
        raw_rows = _xlsx_rows(content, sheet)
    elif name.endswith(CSV_EXTENSIONS):
        raw_rows = _csv_rows(content)
    else:
        raise SpreadsheetRefused(_("Only CSV and XLSX files can be imported; %(name)s is neither.") % {"name": file_name})
    return _table(raw_rows)


def _table(raw_rows) -> Table:
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    limit = settings.IMPORT_MAX_ROWS
    for number, raw in enumerate(raw_rows, start=1):
        cells = [_cell_text(value) for value in raw]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if header is None:
            header = cells
            continue
        rows.append((number, cells))
        if len(rows) > limit:
            raise SpreadsheetRefused(
                _("The file has more than %(limit)s rows; import at most %(limit)s rows at once (split the file).")
                % {"limit": f"{limit:,}"}
            )
    if header is None:
        raise SpreadsheetRefused(_("The file is empty: it needs a header row and at least one row of orders."))
    return Table(header=header, rows=rows)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return unicodedata.normalize("NFKC", str(value)).strip()


# --- CSV ------------------------------------------------------------------------------


def _csv_rows(content: bytes):
    text = _decoded(content)
    return csv.reader(io.StringIO(text, newline=""))


def _decoded(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    else:
        # Valid UTF-8 is rarely valid cp932 by accident, and the other way round; UTF-8 first.
        encodings = ("utf-8", "cp932")
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetRefused(
        _("The CSV file is neither UTF-8 nor Shift_JIS (cp932); save it from Excel as “CSV UTF-8” or “CSV”.")
    )


# --- XLSX -----------------------------------------------------------------------------


def _xlsx_rows(content: bytes, sheet: str | None):
    _check_archive(content)
    import openpyxl  # noqa: PLC0415 — only imports need it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise SpreadsheetRefused(_("The XLSX file cannot be read (%(error)s).") % {"error": type(error).__name__}) from None
    names = workbook.sheetnames
    if sheet:
        if sheet not in names:
            raise SpreadsheetRefused(
                _("The workbook has no sheet named %(sheet)s; its sheets are: %(names)s.") % {"sheet": sheet, "names": ", ".join(names)}
            )
        worksheet = workbook[sheet]
    else:
        worksheet = workbook[names[0]]
    try:
        yield from worksheet.iter_rows(values_only=True)
    except Exception as error:  # the sheet's XML: damaged, or refused by defusedxml (entities, DTDs)
        raise SpreadsheetRefused(_("The XLSX file cannot be read (%(error)s).") % {"error": type(error).__name__}) from None
    finally:
        workbook.close()


def _check_archive(content: bytes) -> None:
    """Refuse a zip bomb from the archive's directory, before anything is expanded."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise SpreadsheetRefused(_("The XLSX file is damaged: it is not a valid ZIP archive.")) from None
    members = archive.infolist()
    if len(members) > settings.IMPORT_XLSX_MAX_MEMBERS:
        raise SpreadsheetRefused(
            _("The XLSX file holds %(count)s parts; at most %(limit)s are accepted.")
            % {"count": f"{len(members):,}", "limit": f"{settings.IMPORT_XLSX_MAX_MEMBERS:,}"}
        )
    expanded = sum(member.file_size for member in members)
    if expanded > settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES:
        raise SpreadsheetRefused(
            _("The XLSX file would expand to %(size)s bytes; at most %(limit)s bytes are accepted (a compressed “zip bomb” is refused).")
            % {"size": f"{expanded:,}", "limit": f"{settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES:,}"}
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > settings.IMPORT_XLSX_MAX_COMPRESSION_RATIO:
            raise SpreadsheetRefused(
                _("The XLSX file's part %(part)s is compressed %(ratio)d to 1; at most %(limit)d to 1 is accepted (a compressed “zip bomb” is refused).")
                % {"part": member.filename, "ratio": ratio, "limit": settings.IMPORT_XLSX_MAX_COMPRESSION_RATIO}
            )


# --- Writing --------------------------------------------------------------------------

# What makes a spreadsheet read a cell as a formula or a DDE command, ASCII and full-width (＝ ＋ － ＠).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value):
    """A text cell safe to open in a spreadsheet: prefixed with ' when it could start a formula. Other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
