"""manage.py import_orders and export_orders: the same import and export as /imports/, for scripts and cron."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from orders.models import Order, OrderEvent, OrderImport
from tests.factories import CustomerFactory, submitted_order
from tests.import_support import csv_bytes

pytestmark = pytest.mark.django_db


def test_dry_run_prints_each_row_stores_nothing_and_fails_on_a_bad_row(tmp_path, catalog, customer, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes([["OWNER", "PO-1", "SRA-1Y", 5, "", ""], ["OWNER", "PO-2", "SRA-1Y", "x", "", ""]], encoding="cp932"))

    with pytest.raises(CommandError) as failure:
        call_command("import_orders", str(path), "--dry-run")

    out = capsys.readouterr().out
    assert "row 2: new" in out and "row 3: error [quantity]" in out and "dry run" in out
    assert failure.value.returncode == 1
    assert not Order.objects.exists() and not OrderImport.objects.exists()


def test_import_creates_the_orders_once_and_again_creates_nothing(tmp_path, catalog, customer, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes([["OWNER", "PO-1", "SRA-1Y", 5, "", ""], ["OWNER", "PO-2", "RDA-1Y", 3, "", ""]]))

    call_command("import_orders", str(path))
    call_command("import_orders", str(path))

    out = capsys.readouterr().out
    assert "2 orders created" in out and "0 orders created, 2 skipped" in out
    assert Order.objects.filter(source="import").count() == 2
    assert set(OrderEvent.objects.filter(action="received").values_list("actor_label", flat=True)) == {"import:command"}


def test_import_of_a_missing_file_or_sheet_fails_clearly(tmp_path, catalog):
    with pytest.raises(CommandError, match="no file"):
        call_command("import_orders", str(tmp_path / "missing.csv"))


def test_export_writes_csv_and_xlsx_for_a_status_and_date(tmp_path, catalog, capsys):
    customer = CustomerFactory(code="JP")
    submitted_order(customer, po_number="=HYPERLINK(\"x\")")
    cancelled = submitted_order(customer, po_number="PO-GONE")
    Order.objects.filter(pk=cancelled.pk).update(status="cancelled")

    call_command("export_orders", "--status", "received", "--language", "en")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    target = tmp_path / "orders.xlsx"
    call_command("export_orders", "--format", "xlsx", "--since", "2020-01-01", "-o", str(target))

    assert [row[1] for row in rows[1:]] == ["'=HYPERLINK(\"x\")"]
    sheet = load_workbook(target).active
    assert sorted(sheet.cell(row=row, column=2).value for row in (2, 3)) == ["'=HYPERLINK(\"x\")", "PO-GONE"]
