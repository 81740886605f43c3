"""Spreadsheet imports and exports on PostgreSQL, against bulk_create in the same run.

1. Import: a generated CSV of --rows rows (two lines per order: --rows/2 orders,
   spread over 500 customers) through the upload's preview (orders.services.imports.import_upload:
   a file over IMPORT_INLINE_PREVIEW_BYTES is previewed by the worker) and the confirm (a real
   Celery worker on the `imports` queue, solo pool, running import_run: django-import-export's
   OrderLineImportResource, dry run for the preview and a real run per batch, every order through
   orders.services.intake.orders_submit). Baseline: the same orders and lines (with their
   received events) written with bulk_create in one transaction, nothing
   validated. Goal: preview + confirm within 3 × the baseline's time.
2. Worker memory: a file of --large-rows rows through the same worker, preview and
   run; its peak resident memory (VmHWM of the worker process). Goal: under 400 MB.
3. Export (OrderLineExportResource's rows, streamed): orders filled up to --export-orders (bulk_create, kept between runs),
   then GET /imports/export/?format=csv as a manager through Django's test client:
   time to the first byte, total time and rate, and the process's peak memory
   growth while streaming, for all the orders and for the imported ones alone
   (status received; flat memory: about the same growth). Goal: first byte under 1 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench_imports \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 CACHE_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python -m bench.imports [--rows 10000] [--large-rows 50000] [--export-orders 100000] [--skip-large]

The database's name must contain "bench" (the script adds customers, orders and
imports to it; it does not drop it). Exit status 0 when the goals are met, 2 when missed.
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderdesk_bench_imports")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
os.environ.setdefault("ORDERDESK_VAR_DIR", tempfile.mkdtemp(prefix="orderdesk-bench-imports-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from licensing.models import Customer  # noqa: E402
from licensing.pricing import tier_unit_price  # noqa: E402
from licensing.selectors import priced_products  # noqa: E402
from orderdesk.numbering import next_number  # noqa: E402
from orders.models import Order, OrderEvent, OrderImport, OrderLine  # noqa: E402
from orders.services.imports import import_confirm, import_upload  # noqa: E402
from orders.totals import order_totals  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
CUSTOMERS = 500
SKUS = ("SRA-1Y", "RDA-1Y")
GOAL_RATIO = 3.0
GOAL_WORKER_MB = 400
GOAL_FIRST_BYTE_S = 1.0


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def setup() -> tuple[list[Customer], object]:
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit(f"refusing to write to {connection.settings_dict['NAME']}: the database's name must contain 'bench'")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    from django.contrib.auth.models import Group, User

    user, _ = User.objects.get_or_create(username="bench-imports")
    user.groups.add(Group.objects.get_or_create(name="manager")[0])
    existing = set(Customer.objects.filter(code__startswith="BIMP-").values_list("code", flat=True))
    Customer.objects.bulk_create(
        Customer(code=f"BIMP-{n:04d}", name=f"株式会社ベンチ{n}", billing_email=f"b{n}@example.jp", credit_limit=10**12)
        for n in range(CUSTOMERS)
        if f"BIMP-{n:04d}" not in existing
    )
    return list(Customer.objects.filter(code__startswith="BIMP-").order_by("code")), user


def plan(rows: int, run: str) -> list[tuple[str, str, str, int]]:
    """(customer code, PO number, SKU, quantity): two lines per order, 1–99 seats."""
    out = []
    for n in range(rows // 2):
        customer, po = f"BIMP-{n % CUSTOMERS:04d}", f"{run}-{n:06d}"
        out.append((customer, po, SKUS[0], 1 + n % 97))
        out.append((customer, po, SKUS[1], 1 + n % 13))
    return out


def as_csv(lines) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["顧客コード", "注文書番号", "品番", "数量", "希望開始日", "備考"])
    for customer, po, sku, quantity in lines:
        writer.writerow([customer, po, sku, quantity, "", "ベンチ"])
    return buffer.getvalue().encode("utf-8-sig")


class ImportWorker:
    """`celery worker --pool solo` on the imports queue: the import runs in this one process, whose VmHWM we read."""

    def __init__(self, log_dir: Path):
        self.log = log_dir / "worker.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("celery")), "-A", "orderdesk", "worker", "--pool", "solo",
                 "--queues", "imports", "--hostname", f"bench-imports-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO",
                 "--without-mingle", "--without-gossip", "--without-heartbeat"],
                cwd=PROJECT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while " ready." not in self.log.read_text(errors="replace"):  # timing starts once it takes messages
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the worker exited or did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_import(content: bytes, user, worker: ImportWorker) -> tuple[float, float, OrderImport]:
    """The upload (previewed by the worker when over IMPORT_INLINE_PREVIEW_BYTES), then the confirm: (preview s, confirm s, record)."""
    started = time.perf_counter()
    record = import_upload(user=user, content=content, file_name="bench.csv")  # outside a transaction: queued at once
    record = _wait(record, (OrderImport.Status.PREVIEWED, OrderImport.Status.FAILED))
    previewed = time.perf_counter()
    assert record.preview["new_orders"] == record.orders_total, f"{record.preview.get('failed_orders')} orders failed the preview"
    import_confirm(order_import=record)
    record = _wait(record, (OrderImport.Status.DONE, OrderImport.Status.FAILED))
    return previewed - started, time.perf_counter() - previewed, record


def _wait(record: OrderImport, statuses) -> OrderImport:
    while record.status not in statuses:
        time.sleep(0.05)
        record.refresh_from_db()
    return record


def baseline(lines, customers_by_code) -> float:
    """The same orders, lines and received events with bulk_create: priced, numbered, nothing checked."""
    catalog = priced_products(SKUS)
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        orders, order_lines = [], []
        for index in range(0, len(lines), 2):
            pair = lines[index : index + 2]
            priced = []
            for position, (_customer, _po, sku, quantity) in enumerate(pair, start=1):
                product = catalog[sku]
                unit_price = tier_unit_price(product.tiers, quantity)
                priced.append(OrderLine(position=position, product_id=product.id, sku=sku, product_name=product.name_ja, unit=product.unit,
                                        quantity=quantity, unit_price=unit_price, amount=unit_price * quantity, tax_rate=product.tax_rate))  # fmt: skip
            totals = order_totals(lines=priced, discount=0)
            customer, po = pair[0][0], pair[0][1]
            orders.append(Order(number=next_number("O"), customer=customers_by_code[customer], po_number=po, source=Order.Source.IMPORT,
                                notes="ベンチ", subtotal=totals.subtotal, tax=totals.tax, total=totals.total, created_at=now))  # fmt: skip
            order_lines.append(priced)
        Order.objects.bulk_create(orders, batch_size=1000)
        for order, priced in zip(orders, order_lines, strict=True):
            for line in priced:
                line.order_id = order.pk
        OrderLine.objects.bulk_create([line for priced in order_lines for line in priced], batch_size=2000)
        OrderEvent.objects.bulk_create(
            [OrderEvent(order=order, actor_label="bench", action="received", to_status="received", reason="order received") for order in orders],
            batch_size=2000,
        )
    return time.perf_counter() - started


def fill_orders(total: int, customers) -> None:
    """Orders up to `total` (numbers X-…, made once and kept), each with two lines, for the export."""
    missing = total - Order.objects.count()
    if missing <= 0:
        return
    catalog = priced_products(SKUS)
    start = Order.objects.filter(number__startswith="X-").count()
    for batch in range(0, missing, 5000):
        with transaction.atomic():
            orders = [
                Order(number=f"X-{start + n:07d}", customer=customers[n % len(customers)], po_number=f"X-{start + n:07d}",
                      status=Order.Status.COMPLETED, notes="=HYPERLINK(\"http://evil.example\")" if n % 100 == 0 else "",
                      subtotal=10000, tax=1000, total=11000)
                for n in range(batch, min(batch + 5000, missing))
            ]  # fmt: skip
            Order.objects.bulk_create(orders)
            OrderLine.objects.bulk_create(
                OrderLine(order_id=order.pk, position=position, product_id=catalog[sku].id, sku=sku, product_name=catalog[sku].name_ja,
                          unit=catalog[sku].unit, quantity=5, unit_price=1000, amount=5000, tax_rate=10)
                for order in orders for position, sku in enumerate(SKUS, start=1)
            )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order; ANALYZE orders_orderline")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def timed_export(client: Client, params: dict) -> tuple[float, float, int, int, float]:
    """(first rows s, total s, bytes, rows, peak memory growth MB) of one streamed CSV export.

    "First rows": until the first chunk with order rows arrives (500 rows), not the BOM, which leaves at once.
    """
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _rss_kb("VmRSS")
    started = time.perf_counter()
    response = client.get("/imports/export/", params)
    assert response.status_code == 200 and response.streaming
    first = None
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\r\n")
        if first is None and rows > 1:  # the first chunk holding order rows (not the BOM or the header alone)
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return first, total, size, rows - 1, (_rss_kb("VmHWM") - before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--large-rows", type=int, default=50_000)
    parser.add_argument("--export-orders", type=int, default=100_000)
    parser.add_argument("--skip-large", action="store_true", help="leave out part 2 (the large file)")
    parser.add_argument("--export-only", action="store_true", help="part 3 alone")
    parser.add_argument("--skip-export", action="store_true", help="leave out part 3")
    args = parser.parse_args()
    print(f"database {connection.settings_dict['NAME']}, broker {settings.CELERY_BROKER_URL}; load average at start {load()}")
    customers, user = setup()
    by_code = {customer.code: customer for customer in customers}
    run = uuid.uuid4().hex[:6].upper()
    met = True
    if not args.export_only:
        met &= bench_imports(args, user, by_code, run)
    if not args.skip_export:
        met &= bench_export(args, customers, user)
    print(f"\nload average at end {load()}; goals {'met' if met else 'MISSED'}")
    return 0 if met else 2


def bench_imports(args, user, by_code, run) -> bool:
    met = True
    log_dir = Path(tempfile.mkdtemp(prefix="bench-imports-worker-"))
    worker = ImportWorker(log_dir)
    try:
        # 1. The import against bulk_create.
        lines = plan(args.rows, f"I{run}")
        content = as_csv(lines)
        preview_s, confirm_s, record = run_import(content, user, worker)
        base_s = baseline(plan(args.rows, f"B{run}"), by_code)
        orders = args.rows // 2
        ratio = (preview_s + confirm_s) / base_s
        met &= ratio <= GOAL_RATIO and record.created_count == orders
        print(f"\nimport of {args.rows:,} rows ({orders:,} orders, {len(content):,} bytes), load {load()}")
        print(f"  preview (worker)           {preview_s:7.2f} s  {args.rows / preview_s:9,.0f} rows/s")
        print(f"  confirm (worker, order_submit) {confirm_s:7.2f} s  {orders / confirm_s:9,.0f} orders/s  created {record.created_count:,}")
        print(f"  preview + confirm          {preview_s + confirm_s:7.2f} s  {orders / (preview_s + confirm_s):9,.0f} orders/s")
        print(f"  baseline bulk_create       {base_s:7.2f} s  {orders / base_s:9,.0f} orders/s")
        print(f"  ratio (preview + confirm) / baseline: {ratio:.2f}× (goal ≤ {GOAL_RATIO}×)")
        print(f"  worker peak memory so far: {worker.peak_mb():.0f} MB")

        # 2. The worker's memory with a large file.
        if not args.skip_large:
            big = as_csv(plan(args.large_rows, f"L{run}"))
            preview_s, confirm_s, record = run_import(big, user, worker)
            peak = worker.peak_mb()
            met &= peak < GOAL_WORKER_MB and record.created_count == args.large_rows // 2
            print(f"\nimport of {args.large_rows:,} rows ({len(big):,} bytes), load {load()}")
            print(f"  preview {preview_s:.1f} s ({args.large_rows / preview_s:,.0f} rows/s), confirm {confirm_s:.1f} s "
                  f"({record.created_count / confirm_s:,.0f} orders/s), created {record.created_count:,}")  # fmt: skip
            print(f"  worker peak resident memory: {peak:.0f} MB (goal < {GOAL_WORKER_MB} MB)")
    finally:
        worker.stop()
        from orderdesk.celery import app

        with app.connection_for_write() as conn:  # the new orders' gather messages: no pipeline worker runs here
            conn.default_channel.queue_purge("pipeline")
    return met


def bench_export(args, customers, user) -> bool:
    fill_orders(args.export_orders, customers)
    client = Client()
    client.force_login(user)
    # Warm-up: the first request of a process loads the URLs and views.
    b"".join(client.get("/imports/export/", {"format": "csv", "since": "2000-01-01", "until": "2000-01-01"}).streaming_content)
    total_orders = Order.objects.count()
    print(f"\nexport of {total_orders:,} orders as CSV (streamed), load {load()}")
    results = {}
    for label, params in (("all", {"format": "csv"}), ("received", {"format": "csv", "status": "received"})):
        first, total, size, rows, growth = timed_export(client, params)
        results[label] = (first, growth)
        print(f"  {label:9} first rows {first * 1000:6.0f} ms, all {total:6.2f} s, {rows:,} rows ({rows / total:,.0f} rows/s), "
              f"{size / 1e6:.1f} MB, peak memory growth {growth:.1f} MB")  # fmt: skip
    return all(first < GOAL_FIRST_BYTE_S for first, _growth in results.values())


if __name__ == "__main__":
    sys.exit(main())
