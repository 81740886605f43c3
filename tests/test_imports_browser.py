"""The import in headless Chromium against the live server and a real worker on the imports queue:
upload → preview → confirm → progress bar → result. Screenshots go to $ORDERDESK_ARTIFACTS (imports-*.png)."""

import re

import pytest
from django.conf import settings

from orders.models import Order, OrderImport
from tests.backlog_support import PASSWORD, make_staff
from tests.conftest import skip_or_fail
from tests.import_support import csv_bytes
from tests.test_backlog_browser import ARTIFACTS, browser, page, sign_in  # noqa: F401 — the shared Chromium fixtures
from tests.workers import Worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORDERS = 300


@pytest.fixture
def slow_import_worker(django_db_setup, tmp_path):
    """A worker on the imports queue alone, in small batches, so the page sees the run under way."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "filesystem://")):
        skip_or_fail("needs a broker workers share: CELERY_BROKER_URL=redis://… or filesystem://")
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path, queues="imports", concurrency=1,
                    env={"IMPORT_BATCH_ORDERS": "2"}).start()  # fmt: skip
    yield worker
    worker.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"imports-{name}.png"), full_page=True)


def test_upload_preview_confirm_progress_and_result(slow_import_worker, live_server, page, tmp_path, customer, catalog):  # noqa: F811
    rows = [["OWNER", f"PO-{n:04d}", "SRA-1Y", 10, "", "在宅勤務者追加分" if n == 0 else ""] for n in range(ORDERS)]
    rows.append(["OWNER", "PO-BAD", "SRA-1Y", "十", "", ""])
    path = tmp_path / "受注一覧.csv"
    path.write_bytes(csv_bytes(rows, encoding="cp932"))
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(page, live_server, user, next_path="/imports/")
    shot(page, "home-ja")
    page.set_input_files("#id_file", str(path))
    page.click("#upload-form button[type=submit]")

    page.wait_for_selector("#import-preview")
    assert f"新規 {ORDERS} 件" in page.locator("#preview-summary").inner_text()  # the staff pages are Japanese by default
    assert page.locator("#preview-rows tr.outcome-error").count() == 1
    assert "十" in page.locator("#preview-rows tr.outcome-error").inner_text()
    assert not Order.objects.exists()
    shot(page, "preview-ja")
    page.click("#confirm-import")

    page.wait_for_selector("#import-progress-bar")
    page.wait_for_function("() => Number(document.querySelector('#import-progress-bar')?.value) > 0", timeout=60_000)
    shot(page, "progress-ja")
    page.wait_for_selector("#import-result", timeout=120_000)  # the page reloads itself at the end
    shot(page, "result-ja")

    counts = page.locator("#result-counts").inner_text()
    assert f"作成 {ORDERS} 件" in counts and "失敗 1 件" in counts
    assert page.locator("#failed-rows-link").is_visible()
    record = OrderImport.objects.get()
    assert (record.status, record.created_count) == ("done", ORDERS)
    assert Order.objects.filter(source="import").count() == ORDERS
    assert re.search(r"/imports/\d+/$", page.url)
