"""Orders in from spreadsheets: the preview writes nothing and names each row's problem; the run creates
each order once through order_submit (source import, the importer on the timeline); files as Japanese
Excel writes them; the limits."""

import pytest
from django.contrib.auth.models import User

from licensing.models import Product
from orders.models import Order, OrderEvent, OrderImport
from orders.services.imports import ImportRefused, failed_rows_table, import_preview, import_run, import_start
from tests.backlog_support import make_staff
from tests.factories import CustomerFactory, submitted_order
from tests.import_support import HEADER_EN, csv_bytes, next_week, xlsx_bytes, zip_bomb_xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english():
    """The messages below are matched in English (the Japanese ones are the same with translations)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def importer(db) -> User:
    return make_staff("tanaka", "order_desk")


def outcomes(preview):
    return [(row.row, row.outcome, row.column) for row in preview.rows]


def run_file(importer, content, name="orders.csv", sheet=""):
    record, _preview = import_start(user=importer, content=content, file_name=name, sheet=sheet)
    assert import_run(import_id=record.pk) is True
    record.refresh_from_db()
    return record


def test_preview_names_row_and_column_of_each_problem_and_writes_nothing(catalog, customer):
    CustomerFactory(code="OTHER")
    Product.objects.filter(sku="RDA-1Y").update(is_active=False)
    submitted_order(customer, po_number="PO-API-1")
    content = csv_bytes([
        ["OWNER", "PO-1", "SRA-1Y", 10, next_week(), "first"],   # row 2: new
        ["NOBODY", "PO-2", "SRA-1Y", 10, "", ""],                # row 3: unknown customer
        ["OWNER", "PO-3", "NOPE-1Y", 10, "", ""],                # row 4: unknown SKU
        ["OWNER", "PO-4", "RDA-1Y", 10, "", ""],                 # row 5: inactive SKU
        ["OWNER", "PO-5", "SRA-1Y", "ten", "", ""],              # row 6: quantity not a number
        ["OWNER", "PO-6", "SRA-1Y", 0, "", ""],                  # row 7: quantity not positive
        ["OWNER", "PO-API-1", "SRA-1Y", 5, "", ""],              # row 8: PO number used by an API order
        ["OWNER", "PO-7", "SRA-1Y", 5, "2026-02-30", ""],        # row 9: not a date
    ])  # fmt: skip
    orders_before = Order.objects.count()

    preview = import_preview(content=content, file_name="orders.csv")

    assert outcomes(preview) == [
        (2, "new", None), (3, "error", "customer"), (4, "error", "sku"), (5, "error", "sku"),
        (6, "error", "quantity"), (7, "error", "quantity"), (8, "error", "po_number"), (9, "error", "requested_start"),
    ]  # fmt: skip
    messages = {row.row: row.message for row in preview.rows}
    assert "NOBODY" in messages[3]
    assert "NOPE-1Y" in messages[4]
    assert "RDA-1Y" in messages[5] and "no longer sold" in messages[5]
    assert "ten" in messages[6]
    existing = Order.objects.get(po_number="PO-API-1").number
    assert existing in messages[8]
    assert "2026-02-30" in messages[9]
    assert preview.new_orders == 1 and preview.failed_orders == 7
    assert Order.objects.count() == orders_before


def test_an_error_on_one_line_keeps_the_whole_order_out(catalog, customer, importer):
    content = csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-1", "RDA-1Y", -3, "", ""]])

    record = run_file(importer, content)

    assert not Order.objects.filter(po_number="PO-1").exists()
    assert (record.created_count, record.failed_count) == (0, 1)
    assert [(row["row"], row["column"]) for row in record.failed_rows] == [(2, None), (3, "quantity")]


def test_run_creates_each_order_through_intake_with_the_importer_on_the_timeline(catalog, customer, importer):
    content = csv_bytes([
        ["OWNER", "PO-1", "SRA-1Y", 50, next_week(), "在宅勤務者追加分"],
        ["OWNER", "PO-1", "RDA-1Y", 20, "", ""],
        ["OWNER", "PO-2", "SRA-1Y", 5, "", ""],
    ])  # fmt: skip

    record = run_file(importer, content)

    assert (record.status, record.created_count, record.skipped_count, record.failed_count) == ("done", 2, 0, 0)
    assert (record.rows_done, record.rows_total) == (3, 3)
    order = Order.objects.get(customer=customer, po_number="PO-1")
    assert order.source == Order.Source.IMPORT
    assert order.status == Order.Status.RECEIVED
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [("SRA-1Y", 50, 5400), ("RDA-1Y", 20, 3000)]
    assert order.total == order.subtotal + order.tax > 0
    assert order.notes == "在宅勤務者追加分"
    assert order.requested_start.isoformat() == next_week()
    event = OrderEvent.objects.get(order=order, action="received")
    assert (event.actor, event.actor_label) == (importer, "staff:tanaka")


def test_reimporting_the_same_file_creates_nothing_new(catalog, customer, importer):
    content = csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-2", "SRA-1Y", 10, "", ""]])
    run_file(importer, content)

    preview = import_preview(content=content, file_name="orders.csv")
    again = run_file(importer, content)

    assert preview.skipped_orders == 2 and preview.count("skipped") == 2 and preview.new_orders == 0
    assert (again.created_count, again.skipped_count) == (0, 2)
    assert Order.objects.filter(customer=customer).count() == 2


def test_an_overlapping_file_creates_only_the_new_orders(catalog, customer, importer):
    run_file(importer, csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-2", "SRA-1Y", 10, "", ""]]))

    record = run_file(importer, csv_bytes([["OWNER", "PO-2", "SRA-1Y", 10, "", ""], ["OWNER", "PO-3", "SRA-1Y", 10, "", ""]]))

    assert (record.created_count, record.skipped_count) == (1, 1)
    assert sorted(Order.objects.filter(customer=customer).values_list("po_number", flat=True)) == ["PO-1", "PO-2", "PO-3"]


def test_a_run_stopped_midway_resumes_without_doubles(catalog, customer, importer, settings):
    settings.IMPORT_BATCH_ORDERS = 2
    content = csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 10, "", ""] for n in range(7)])
    record, _preview = import_start(user=importer, content=content, file_name="orders.csv")

    assert import_run(import_id=record.pk, max_seconds=0) is False  # one batch, then it stops
    record.refresh_from_db()
    assert (record.next_group, record.created_count, Order.objects.count()) == (2, 2, 2)
    assert import_run(import_id=record.pk) is True

    record.refresh_from_db()
    assert (record.created_count, record.skipped_count, record.status) == (7, 0, "done")
    assert Order.objects.filter(customer=customer).count() == 7


def test_failed_rows_come_back_as_a_csv_to_fix_and_import_again(catalog, customer, importer):
    record = run_file(importer, csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-2", "NOPE", 1, "", "fix me"]]))

    table = list(failed_rows_table(record, language="ja"))

    assert table[0][:6] == ["顧客コード", "注文書番号", "品番", "数量", "希望開始日", "備考"]
    assert table[1][:6] == ["OWNER", "PO-2", "NOPE", "1", "", "fix me"]
    assert table[1][6] == "3" and "品番" in table[1][7] and "NOPE" in table[1][8]


# --- Files as they come -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("cp932", False)], ids=["utf8", "utf8-bom", "shift-jis"]
)
def test_japanese_headers_read_in_utf8_with_or_without_bom_and_in_shift_jis(catalog, customer, encoding, bom):
    content = csv_bytes([["OWNER", "注文-1", "SRA-1Y", 10, "", "至急・在宅勤務"]], encoding=encoding, bom=bom)

    preview = import_preview(content=content, file_name="orders.csv")

    assert outcomes(preview) == [(2, "new", None)]
    assert preview.groups[0].data["po_number"] == "注文-1"
    assert preview.groups[0].data["notes"] == "至急・在宅勤務"


def test_full_width_digits_and_spaces_blank_lines_and_trailing_columns_are_read(catalog, customer):
    text = "顧客コード,注文書番号,品番,数量,,\r\n\r\n　ＯＷＮＥＲ　,ＰＯ－１,ＳＲＡ－１Ｙ,１，０００,,\r\n,,,,,\r\n"

    preview = import_preview(content=text.encode("utf-8"), file_name="orders.csv")

    assert outcomes(preview) == [(3, "new", None)]
    assert preview.groups[0].data["lines"] == [{"sku": "SRA-1Y", "quantity": 1000}]
    assert preview.groups[0].data["po_number"] == "PO-1"


def test_xlsx_first_sheet_or_a_named_one_with_formula_values(catalog, customer, importer):
    content = xlsx_bytes({
        "Notes": [["this sheet is not orders"]],
        "Orders": [HEADER_EN, ["OWNER", "PO-X1", "SRA-1Y", 12, None, None]],
    })  # fmt: skip

    with pytest.raises(ImportRefused, match="lacks the column"):
        import_preview(content=content, file_name="orders.xlsx")
    record = run_file(importer, content, name="orders.xlsx", sheet="Orders")

    assert record.created_count == 1
    assert Order.objects.get(po_number="PO-X1").lines.get().quantity == 12
    with pytest.raises(ImportRefused, match="Orders"):
        import_preview(content=content, file_name="orders.xlsx", sheet="Missing")


def test_xlsx_formula_cells_are_read_as_their_values_never_evaluated(catalog, customer):
    from openpyxl import Workbook
    import io

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER_EN)
    sheet.append(["OWNER", "PO-F", "SRA-1Y", "=5*2", None, '=HYPERLINK("http://evil.example","x")'])
    output = io.BytesIO()
    workbook.save(output)

    preview = import_preview(content=output.getvalue(), file_name="orders.xlsx")

    # openpyxl wrote no cached values: the cells are empty, not "=5*2" or a link.
    row = preview.rows[0]
    assert row.values["quantity"] == "" and row.values["notes"] == ""
    assert (row.outcome, row.column) == ("error", "quantity")


# --- Limits -------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_with_its_size(catalog, customer, settings):
    settings.IMPORT_MAX_FILE_BYTES = 1024

    with pytest.raises(ImportRefused, match="at most 1,024 bytes"):
        import_preview(content=csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 1, "", ""] for n in range(100)]), file_name="big.csv")


def test_a_file_over_the_row_limit_is_refused(catalog, customer, settings):
    settings.IMPORT_MAX_ROWS = 3

    with pytest.raises(ImportRefused, match="more than 3 rows"):
        import_preview(content=csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 1, "", ""] for n in range(4)]), file_name="o.csv")


def test_an_xlsx_zip_bomb_is_refused_before_it_is_expanded(catalog, customer, settings):
    settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
    bomb = zip_bomb_xlsx(64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # small on the wire

    with pytest.raises(ImportRefused, match="zip bomb"):
        import_preview(content=bomb, file_name="bomb.xlsx")


def test_an_xlsx_part_compressed_beyond_the_ratio_is_refused(catalog, customer, settings):
    settings.IMPORT_XLSX_MAX_COMPRESSION_RATIO = 50

    with pytest.raises(ImportRefused, match="compressed .* to 1"):
        import_preview(content=zip_bomb_xlsx(4 * 1024 * 1024), file_name="bomb.xlsx")


def test_xml_entities_in_an_xlsx_are_refused(catalog, customer):
    import io
    import zipfile

    base = xlsx_bytes({"Sheet1": [HEADER_EN, ["OWNER", "PO-1", "SRA-1Y", 1]]})
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(output, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                # An entity-expansion ("billion laughs") preamble; defusedxml refuses any entity declaration.
                data = data.replace(b"<worksheet", b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><worksheet', 1)
                assert b"ENTITY" in data
            target.writestr(item, data)

    with pytest.raises(ImportRefused, match="cannot be read"):
        import_preview(content=output.getvalue(), file_name="entities.xlsx")


def test_a_file_neither_csv_nor_xlsx_nor_readable_text_is_refused(catalog, customer):
    with pytest.raises(ImportRefused, match="CSV and XLSX"):
        import_preview(content=b"%PDF-1.7", file_name="orders.pdf")
    with pytest.raises(ImportRefused, match="neither UTF-8 nor Shift_JIS"):
        import_preview(content=b"\x81\x20\xff\xfe" * 10, file_name="orders.csv")


def test_import_record_keeps_who_when_file_name_and_hash(catalog, customer, importer):
    import hashlib

    content = csv_bytes([["OWNER", "PO-1", "SRA-1Y", 1, "", ""]])

    record = run_file(importer, content, name="2026-12 受注.csv")

    assert (record.created_by, record.file_name, record.file_sha256) == (importer, "2026-12 受注.csv", hashlib.sha256(content).hexdigest())
    assert OrderImport.objects.get().finished_at is not None


def test_a_batch_stores_each_good_order_and_names_why_the_others_were_refused(catalog, customer):
    from orderdesk.audit import Actor
    from orders.services.intake import DuplicatePoNumber, OrderInvalid, Submission, orders_submit
    from tests.conftest import order_body

    earlier = submitted_order(customer, po_number="PO-TAKEN")
    submissions = [
        Submission(customer=customer, data=order_body(po_number="PO-A")),
        Submission(customer=customer, data=order_body(po_number="PO-B", lines=[{"sku": "NOPE", "quantity": 1}])),
        Submission(customer=customer, data=order_body(po_number="PO-TAKEN")),
        Submission(customer=customer, data=order_body(po_number="PO-C")),
    ]

    results = orders_submit(submissions=submissions, actor=Actor.system("test"), source=Order.Source.IMPORT)

    assert [type(result) for result in results] == [Order, OrderInvalid, DuplicatePoNumber, Order]
    assert results[1].errors[0].field == "lines[0].sku" and results[2].existing == earlier
    assert sorted(Order.objects.filter(source="import").values_list("po_number", flat=True)) == ["PO-A", "PO-C"]
    assert all(order.lines.count() == 2 for order in Order.objects.filter(source="import"))


def test_a_large_upload_is_kept_and_previewed_by_the_worker_and_cannot_be_confirmed_before(catalog, customer, importer, settings):
    from orders.services.imports import import_check, import_confirm, import_upload

    settings.IMPORT_INLINE_PREVIEW_BYTES = 10
    content = csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-2", "NOPE", 1, "", ""]])

    record = import_upload(user=importer, content=content, file_name="big.csv")

    assert record.status == "checking" and record.preview == {}
    assert import_confirm(order_import=record) is False
    import_check(import_id=record.pk)
    record.refresh_from_db()
    assert (record.status, record.preview["new_orders"], record.preview["failed_orders"], record.rows_total) == ("previewed", 1, 1, 2)
    assert not Order.objects.exists()


def test_a_large_upload_that_cannot_be_read_ends_failed_with_the_reason(catalog, customer, importer, settings):
    from orders.services.imports import import_check, import_confirm, import_upload

    settings.IMPORT_INLINE_PREVIEW_BYTES = 10
    record = import_upload(user=importer, content=b"customer,sku\r\nOWNER,SRA-1Y\r\n", file_name="big.csv")

    import_check(import_id=record.pk)

    record.refresh_from_db()
    assert record.status == "failed" and "注文書番号 (po_number)" in record.error
    assert import_confirm(order_import=record) is False


def test_an_import_batch_draws_its_order_numbers_before_its_transaction(catalog, customer, importer, settings, monkeypatch):
    """The number sequence's row is needed by every new order: a batch must not hold it while it writes."""
    from django.db import connection

    from orders.services import order_writer

    settings.IMPORT_BATCH_ORDERS = 3
    record, _preview = import_start(user=importer, content=csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 1, "", ""] for n in range(3)]),
                                    file_name="o.csv")  # fmt: skip
    draws, writes = [], []

    def watched(function, calls):
        def call(*args, **kwargs):
            calls.append(len(connection.atomic_blocks))
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(order_writer, "next_numbers", watched(order_writer.next_numbers, draws))
    monkeypatch.setattr(order_writer, "next_number", watched(order_writer.next_number, draws))
    monkeypatch.setattr(order_writer, "new_order_rows", watched(order_writer.new_order_rows, writes))

    import_run(import_id=record.pk)

    outside = len(connection.atomic_blocks)  # the test's own transaction, if any
    assert draws == [outside]  # one draw for the batch's three orders, outside the batch's transaction
    assert len(writes) == 3 and min(writes) > outside
    assert Order.objects.filter(source="import").count() == 3


# --- django-import-export runs it ---------------------------------------------------------


def test_the_preview_is_the_resources_dry_run_and_writes_nothing(catalog, customer, importer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.resources import OrderLineImportResource
    from orders.services.imports import read_dataset

    run_file(importer, csv_bytes([["OWNER", "PO-OLD", "SRA-1Y", 1, "", ""]]))
    dataset = read_dataset(
        csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-1", "RDA-1Y", 2, "", ""],
                   ["OWNER", "PO-OLD", "SRA-1Y", 1, "", ""], ["OWNER", "PO-2", "SRA-1Y", "ten", "", ""]]),
        file_name="orders.csv",
    )  # fmt: skip
    orders_before = Order.objects.count()

    with CaptureQueriesContext(connection) as queries:
        result = OrderLineImportResource().import_data(dataset, dry_run=True)

    writes = [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == [] and Order.objects.count() == orders_before
    assert (result.totals["new"], result.totals["skip"], result.totals["invalid"]) == (2, 1, 1)
    [invalid] = result.invalid_rows
    assert invalid.number == 5 and "ten" in invalid.error_dict["quantity"][0]


def test_a_real_run_of_the_resource_creates_the_orders_through_intake(catalog, customer, importer):
    from orderdesk.audit import Actor
    from orders.resources import OrderLineImportResource
    from orders.services.imports import read_dataset

    dataset = read_dataset(
        csv_bytes([["OWNER", "PO-1", "SRA-1Y", 10, "", ""], ["OWNER", "PO-1", "RDA-1Y", 2, "", ""], ["OWNER", "PO-2", "NOPE", 1, "", ""]]),
        file_name="orders.csv",
    )
    resource = OrderLineImportResource(actor=Actor.staff(importer))

    result = resource.import_data(dataset, dry_run=False, use_transactions=False)

    order = Order.objects.get(customer=customer, po_number="PO-1")
    assert (order.source, order.lines.count()) == (Order.Source.IMPORT, 2)
    assert OrderEvent.objects.get(order=order, action="received").actor == importer
    assert (result.totals["new"], result.totals["invalid"]) == (2, 1)
    assert [row.object_repr for row in result.rows[:2]] == [order.number, order.number]
    assert not Order.objects.filter(po_number="PO-2").exists()


def test_an_import_run_goes_through_the_resource_batch_by_batch(catalog, customer, importer, settings, monkeypatch):
    from orders.resources import OrderLineImportResource

    settings.IMPORT_BATCH_ORDERS = 2
    batches = []
    real = OrderLineImportResource.import_data

    def counted(self, dataset, **kwargs):
        batches.append((len(dataset), kwargs["dry_run"]))
        return real(self, dataset, **kwargs)

    monkeypatch.setattr(OrderLineImportResource, "import_data", counted)

    record = run_file(importer, csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 1, "", ""] for n in range(5)]))

    assert batches == [(5, True), (2, False), (2, False), (1, False)]  # the preview, then three batches
    assert record.created_count == 5


def test_a_batch_writes_its_orders_without_a_savepoint_each_and_still_refuses_just_the_taken_po(catalog, customer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orderdesk.audit import Actor
    from orders.services.intake import DuplicatePoNumber, Submission, orders_submit
    from tests.conftest import order_body

    good = [Submission(customer=customer, data=order_body(po_number=f"PO-{n}")) for n in range(10)]
    with CaptureQueriesContext(connection) as queries:
        results = orders_submit(submissions=good, actor=Actor.system("test"), source=Order.Source.IMPORT)
    savepoints = [query for query in queries if query["sql"].upper().startswith("SAVEPOINT")]
    assert all(isinstance(result, Order) for result in results)
    assert len(savepoints) <= 2  # the batch's, not one per order

    # Two orders of the same batch under one PO number: the batch is written again one order at a time.
    twice = [Submission(customer=customer, data=order_body(po_number=po)) for po in ("PO-A", "PO-B", "PO-A", "PO-C")]
    results = orders_submit(submissions=twice, actor=Actor.system("test"), source=Order.Source.IMPORT)

    assert [type(result) for result in results] == [Order, Order, DuplicatePoNumber, Order]
    assert results[2].existing == results[0]
    assert sorted(Order.objects.filter(po_number__in=["PO-A", "PO-B", "PO-C"]).values_list("po_number", flat=True)) == ["PO-A", "PO-B", "PO-C"]


def test_the_preview_page_lists_rows_with_errors_first_even_past_the_rows_it_shows(catalog, customer, settings):
    settings.IMPORT_PREVIEW_ROWS_SHOWN = 3
    good = [["OWNER", f"PO-{index}", "SRA-1Y", 10, "", ""] for index in range(5)]  # rows 2–6
    content = csv_bytes([*good, ["OWNER", "PO-BAD", "SRA-1Y", "ten", "", ""]])  # row 7: the error

    shown = import_preview(content=content, file_name="orders.csv").summary()["shown"]

    assert [(row["row"], row["outcome"]) for row in shown] == [(7, "error"), (2, "new"), (3, "new")]
