"""Spreadsheet files for the import and export tests (tests/test_imports*.py, tests/test_exports.py)."""

import io
import zipfile
from datetime import timedelta

from django.utils import timezone

from licensing.models import JAPAN

HEADER_JA = ["顧客コード", "注文書番号", "品番", "数量", "希望開始日", "備考"]
HEADER_EN = ["customer", "po_number", "sku", "quantity", "requested_start", "notes"]


def next_week() -> str:
    return (timezone.localdate(timezone=JAPAN) + timedelta(days=7)).isoformat()


def csv_bytes(rows, *, header=HEADER_JA, encoding="utf-8", bom=False) -> bytes:
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def zip_bomb_xlsx(expanded_bytes: int) -> bytes:
    """A small file whose one sheet part expands to `expanded_bytes` of zeros (the rest of a real XLSX around it)."""
    base = xlsx_bytes({"Sheet1": [HEADER_EN]})
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        with target.open("xl/worksheets/padding.xml", "w") as padding:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(expanded_bytes // len(chunk)):
                padding.write(chunk)
    return output.getvalue()
