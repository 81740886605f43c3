"""Imports through the web pages and a real Celery worker on the `imports` queue: preview, confirm, progress,
the orders completing through the pipeline; a worker killed midway and the import run again."""

import pytest
from django.conf import settings

from orders.models import Order, OrderImport
from orders.services.imports import import_confirm
from tests.backlog_support import make_staff, signed_in
from tests.conftest import skip_or_fail
from tests.import_support import csv_bytes
from tests.workers import Worker, wait_for, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _needs_shared_broker():
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "filesystem://")):
        skip_or_fail("needs a broker workers share: CELERY_BROKER_URL=redis://… or filesystem://")


@pytest.fixture
def import_worker(django_db_setup, tmp_path):
    _needs_shared_broker()
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path, queues="imports,pipeline,documents")
    worker.start()
    yield worker
    worker.stop()


def upload(client, content: bytes, name="orders.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/imports/", {"file": SimpleUploadedFile(name, content, content_type="text/csv")})


def test_upload_preview_confirm_and_the_orders_complete_through_the_pipeline(client, catalog, customer, import_worker):
    signed_in(client, make_staff("tanaka", "order_desk"))
    content = csv_bytes([["OWNER", "PO-1", "SRA-1Y", 50, "", ""], ["OWNER", "PO-1", "RDA-1Y", 20, "", ""],
                         ["OWNER", "PO-2", "NOPE", 1, "", ""]])  # fmt: skip

    response = upload(client, content)
    assert response.status_code == 302
    record = OrderImport.objects.get()
    preview = client.get(response["Location"]).content.decode()
    assert "NOPE" in preview and 'id="confirm-import"' in preview
    assert not Order.objects.exists()

    client.post(f"/imports/{record.pk}/confirm/")

    record = wait_for(lambda: OrderImport.objects.filter(pk=record.pk, status="done").first(), timeout=60, message="import done")
    assert (record.created_count, record.failed_count) == (1, 1)
    order = wait_for_status(Order.objects.get(po_number="PO-1").number, Order.Status.COMPLETED)
    assert order.source == Order.Source.IMPORT
    result = client.get(f"/imports/{record.pk}/").content.decode()
    assert 'id="failed-rows-link"' in result
    failed = b"".join(client.get(f"/imports/{record.pk}/failed-rows.csv").streaming_content).decode("utf-8-sig")
    assert "NOPE" in failed and "PO-1" not in failed


def test_a_worker_killed_mid_import_and_the_import_run_again_makes_each_order_once(catalog, customer, tmp_path):
    _needs_shared_broker()
    orders = 400
    content = csv_bytes([["OWNER", f"PO-{n:04d}", "SRA-1Y", 1 + n % 7, "", ""] for n in range(orders)])
    from orders.services.imports import import_start

    record, _preview = import_start(user=make_staff("tanaka", "order_desk"), content=content, file_name="orders.csv")
    # Small batches, each a moment long: the kill lands between two commits or inside one.
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path, queues="imports", concurrency=1,
                    env={"IMPORT_BATCH_ORDERS": "5"}).start()  # fmt: skip
    try:
        import_confirm(order_import=record)
        wait_for(lambda: OrderImport.objects.get(pk=record.pk).next_group >= 40, timeout=120, interval=0.02, message="the import under way")
        worker.kill_child()
        stopped_at = OrderImport.objects.get(pk=record.pk).next_group
        assert stopped_at < orders, "the import finished before the kill; make it longer"

        import_confirm(order_import=record)  # the person confirms again (a redelivered message does the same)
        done = wait_for(lambda: OrderImport.objects.filter(pk=record.pk, status="done").first(), timeout=180, message="import done")
    finally:
        worker.stop()

    assert done.created_count == orders and done.skipped_count == 0 and done.failed_count == 0
    assert Order.objects.filter(customer=customer).count() == orders
    assert Order.objects.filter(customer=customer).values("po_number").distinct().count() == orders
    assert all(order.lines.count() == 1 for order in Order.objects.filter(customer=customer)[:50])


def test_a_large_upload_is_previewed_by_the_worker_then_confirmed(client, catalog, customer, import_worker, settings):
    settings.IMPORT_INLINE_PREVIEW_BYTES = 10
    signed_in(client, make_staff("tanaka", "order_desk"))

    response = upload(client, csv_bytes([["OWNER", f"PO-{n}", "SRA-1Y", 10, "", ""] for n in range(20)]))

    record = OrderImport.objects.get()
    assert 'id="import-check-bar"' in client.get(response["Location"]).content.decode() or record.status != "checking"
    record = wait_for(lambda: OrderImport.objects.filter(pk=record.pk, status="previewed").first(), timeout=60, message="preview")
    assert record.preview["new_orders"] == 20
    client.post(f"/imports/{record.pk}/confirm/")
    record = wait_for(lambda: OrderImport.objects.filter(pk=record.pk, status="done").first(), timeout=60, message="import done")
    assert record.created_count == 20 and Order.objects.filter(source="import").count() == 20
