"""The backlog page with 100,000 orders, 10,000 of them in the backlog, against a minimal signed-in page.

Fills a PostgreSQL database with orders (most of them completed, rejected or
cancelled; the backlog: needs_review with a mix of reason codes, failed, and
stuck in provisioning), signs in as an order-desk user, and requests through
Django's test client, alternating, the backlog page and the baseline: the
start page, which needs a signed-in user and renders the same layout and
navigation but reads no orders. It prints p50/p95 of each, the ratio of the
p95s, and the SQL queries per request for page sizes 10, 50 and 200.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_backlog \\
    .venv/bin/python -m bench.backlog [--orders 100000] [--backlog 10000] [--requests 200]

The orders are generated once (numbers B-…); a second run on the same database
reuses them. Goal: backlog p95 within 3× the baseline p95, queries constant.
"""

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from licensing.models import Customer, Product  # noqa: E402
from orders.models import Order, OrderLine, ReviewReason  # noqa: E402

PREFIX = "B-"
BATCH = 5000
CUSTOMERS = 500
FINAL = [Order.Status.COMPLETED] * 18 + [Order.Status.REJECTED, Order.Status.CANCELLED]
REASON_MIX = [
    [ReviewReason.MANUAL_APPROVAL],
    [ReviewReason.QUANTITY_OVER_CAP],
    [ReviewReason.SUSPECTED_DUPLICATE],
    [ReviewReason.OVER_CREDIT_LIMIT],
    [ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.MANUAL_APPROVAL],
    [ReviewReason.ADDON_EXCEEDS_BASE],
    [ReviewReason.PRICE_DIFFERS_FROM_QUOTE],
    [ReviewReason.INACTIVE_SKU],
]


def populate(total: int, in_backlog: int) -> None:
    existing = Order.objects.filter(number__startswith=PREFIX).count()
    if existing >= total:
        print(f"reusing {existing:,} bench orders")
        return
    Order.objects.filter(number__startswith=PREFIX).delete()
    rng = random.Random(4)
    products = list(Product.objects.filter(is_active=True).order_by("sku")[:2])
    customers = Customer.objects.bulk_create(
        [Customer(code=f"BENCH-{i:04d}", name=f"ベンチ商事{i}株式会社", credit_limit=50_000_000) for i in range(CUSTOMERS)],
        ignore_conflicts=True,
    )
    customers = list(Customer.objects.filter(code__startswith="BENCH-"))
    now = timezone.now()
    started = time.perf_counter()
    for start in range(0, total, BATCH):
        orders = [_order(i, total, in_backlog, rng, customers, now) for i in range(start, min(start + BATCH, total))]
        lines = {order.number: _lines(order, products, rng) for order in orders}  # sets the order's totals
        with transaction.atomic():
            Order.objects.bulk_create(orders)
            for order in orders:
                for line in lines[order.number]:
                    line.order = order
            OrderLine.objects.bulk_create(line for order_lines in lines.values() for line in order_lines)
        print(f"\r{start + len(orders):,} orders", end="", flush=True)
    print(f"\ncreated {total:,} orders in {time.perf_counter() - started:.0f}s")


def vacuum_and_analyze() -> None:
    """Vacuum and analyse every table the pages read, as autovacuum keeps them in production.

    The bench inserts its orders and customers in bulk, and a test server may
    run without autovacuum. Unanalysed, the customer table was planned as 60
    rows for 500, and PostgreSQL joined it to the 2,115 credit-reason orders by
    a nested loop: 215 ms instead of 10 ms. Never vacuumed, the orders have no
    visibility map, so even counting the backlog reads every open order's row.
    """
    with connection.cursor() as cursor:
        for table in ("orders_order", "orders_orderline", "licensing_customer", "auth_user"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _order(i: int, total: int, in_backlog: int, rng, customers, now) -> Order:
    created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 30))
    status, reasons, changed = rng.choice(FINAL), [], created + timedelta(minutes=5)
    if i % (total // in_backlog) == 0:
        kind = rng.random()
        if kind < 0.85:
            status, reasons = Order.Status.NEEDS_REVIEW, rng.choice(REASON_MIX)
        elif kind < 0.95:
            status = Order.Status.FAILED
        else:
            status, changed = Order.Status.PROVISIONING, now - timedelta(hours=1)  # stuck
        created = now - timedelta(minutes=rng.randint(1, 60 * 48))
    return Order(
        number=f"{PREFIX}{i:07d}", customer=rng.choice(customers), po_number=f"PO-{i:07d}", status=status,
        review_reasons=reasons, created_at=created, status_changed_at=min(changed, now), subtotal=0, tax=0, total=0,
    )  # fmt: skip


def _lines(order: Order, products, rng):
    lines, subtotal = [], 0
    for position, product in enumerate(products[: rng.randint(1, len(products))], start=1):
        quantity = rng.choice([5, 10, 50, 120, 1500])
        lines.append(
            OrderLine(position=position, product=product, sku=product.sku, product_name=product.name_ja,
                      unit=product.unit, quantity=quantity, unit_price=5000, amount=5000 * quantity, tax_rate=10)
        )  # fmt: skip
        subtotal += 5000 * quantity
    order.subtotal, order.tax, order.total = subtotal, subtotal // 10, subtotal + subtotal // 10
    return lines


def timed(client: Client, url: str, **headers) -> float:
    started = time.perf_counter()
    response = client.get(url, **headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed * 1000


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench.backlog needs PostgreSQL: set DATABASE_URL=postgres://…")

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    populate(args.orders, args.backlog)
    vacuum_and_analyze()
    in_backlog = Order.objects.filter(number__startswith=PREFIX, status__in=["needs_review", "failed", "provisioning"]).count()
    print(f"{Order.objects.count():,} orders in the database, {in_backlog:,} of them in the backlog")

    client = Client()
    client.force_login(User.objects.get(username="order_desk"))
    pages = {
        "baseline: start page": ("/", {}),
        "backlog, oldest first": ("/backlog/", {}),
        "backlog, credit reason, largest total": ("/backlog/?reason=OVER_CREDIT_LIMIT&sort=total_desc", {}),
        "backlog, search by customer": ("/backlog/?q=ベンチ商事12", {}),
        "backlog, htmx refresh": ("/backlog/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "backlog-live"}),
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    for name, (url, headers) in pages.items():  # warm-up: templates, connections, caches
        for _ in range(5):
            timed(client, url, **headers)
    for _ in range(args.requests):
        for name, (url, headers) in pages.items():  # interleaved, so noise hits every page alike
            times[name].append(timed(client, url, **headers))

    baseline_p95 = percentile(times["baseline: start page"], 0.95)
    print(f"\n{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'p95/baseline':>13} {'queries':>8}")
    for name, (url, _headers) in pages.items():
        p50, p95 = statistics.median(times[name]), percentile(times[name], 0.95)
        print(f"{name:42} {p50:8.1f} {p95:8.1f} {p95 / baseline_p95:12.2f}× {queries(client, url):8d}")

    print("\nqueries per backlog request by page size:")
    for size in (10, 50, 200):
        with override_settings(BACKLOG_PAGE_SIZE=size):
            print(f"  page size {size:3d}: {queries(client, '/backlog/')} queries")


if __name__ == "__main__":
    # Templates use {% static %}; the bench reads the sources, as the tests do, without collectstatic's manifest.
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
        main()
