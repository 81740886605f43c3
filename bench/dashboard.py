"""The control room with 100,000 orders and 30 days of rollups, against a minimal signed-in page.

Fills a PostgreSQL database with bench/backlog.py's orders (100,000 over 30
days, 10,000 of them in the backlog), rolls 30 days up as Celery beat would
(`control.rollups.orders_rollup`), signs in as a manager and requests through
Django's test client, interleaved, the baseline (the start page: signed in,
same layout, reads no orders) and the control room's pages: the dashboard and
its self-refresh, the order feed's first page, a search and a filter, and
/metrics. It prints p50/p95 of each, the ratio of the p95s to the baseline's,
and the SQL queries per request; then the dashboard's queries again after
another 2,000 orders, to show that they do not grow with the orders.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench_dash \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 CACHE_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python -m bench.dashboard [--orders 100000] [--backlog 10000] [--requests 200]

Goals: dashboard p95 ≤ 3× baseline with a constant number of queries; the
feed's first page and a search ≤ 3×; /metrics ≤ 2×. Exit status 0 when met,
2 when a goal was missed.
"""

import argparse
import os
import statistics
import time
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.backlog import PREFIX, percentile, populate, timed, vacuum_and_analyze  # noqa: E402
from control.models import OrderRollup  # noqa: E402
from control.rollups import orders_rollup  # noqa: E402
from licensing.models import Customer  # noqa: E402
from orderdesk.models import WorkerHeartbeat  # noqa: E402
from orders.models import Order  # noqa: E402

BASELINE = "baseline: start page"
COLD = "dashboard, nothing cached"
GOALS = {
    "dashboard": 3.0,
    "dashboard, htmx refresh": 3.0,
    "feed, first page": 3.0,
    "feed, search by customer": 3.0,
    "feed, search by PO number": 3.0,
    "metrics": 2.0,
}


def roll_up_thirty_days() -> None:
    started = time.perf_counter()
    result = orders_rollup(since=timezone.now() - timedelta(days=30))
    print(f"rolled up 30 days ({result.minutes:,} minutes) in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    orders_rollup()
    print(f"one periodic rollup (the last minutes again) in {(time.perf_counter() - started) * 1000:.0f} ms")
    rows = {span.label: OrderRollup.objects.filter(span=span).count() for span in OrderRollup.Span}
    print("rollup rows:", ", ".join(f"{count:,} per {label}" for label, count in rows.items()))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE control_orderrollup")


def pretend_workers() -> None:
    """Two heartbeat rows, as two live workers would keep them (no worker runs during the bench)."""
    now = timezone.now()
    for name in ("celery@web-1", "celery@docs-1"):
        WorkerHeartbeat.objects.update_or_create(
            name=name, defaults={"pid": 1, "queues": "pipeline", "concurrency": 4, "started_at": now, "seen_at": now}
        )


def queries(client: Client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **headers).status_code == 200
    return len(captured)


def more_orders(count: int) -> None:
    """`count` more orders in the last hour, as a surge would bring, then the periodic rollup."""
    template = Order.objects.filter(number__startswith=PREFIX).order_by("pk").first()
    now, run = timezone.now(), int(time.time()) % 1_000_000
    Order.objects.bulk_create(
        Order(number=f"{PREFIX}X{run:06d}{index:05d}", customer_id=template.customer_id, po_number=f"PO-X-{run:06d}-{index:05d}",
              status=Order.Status.COMPLETED, created_at=now - timedelta(seconds=index), status_changed_at=now)
        for index in range(count)
    )  # fmt: skip
    orders_rollup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("bench.dashboard needs a PostgreSQL database whose name contains 'bench': set DATABASE_URL")

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    populate(args.orders, args.backlog)
    Order.objects.filter(number__startswith=f"{PREFIX}X").delete()  # what an earlier run's last step added
    vacuum_and_analyze()
    roll_up_thirty_days()
    pretend_workers()
    print(f"{Order.objects.count():,} orders; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    client = Client()
    client.force_login(User.objects.get(username="manager"))
    cursor_order = Order.objects.filter(number__startswith=PREFIX).order_by("-created_at", "-pk")[5000]
    customer = Customer.objects.filter(code__startswith="BENCH-").order_by("code")[12]
    pages = {
        BASELINE: ("/", {}),
        "dashboard": ("/dashboard/", {}),
        "dashboard, htmx refresh": ("/dashboard/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dashboard-live"}),
        # The first request after each rollup (and of each new five minutes): the charts drawn anew,
        # the backlog counted anew. The cache is emptied before each of these requests (not timed).
        COLD: ("/dashboard/", {}),
        "feed, first page": ("/orders/", {}),
        "feed, page 101 (keyset)": (f"/orders/?before={int(cursor_order.created_at.timestamp() * 1e6)}.{cursor_order.pk}", {}),
        "feed, search by customer": (f"/orders/?q={customer.name}", {}),
        "feed, search by PO number": ("/orders/?q=PO-00123", {}),
        "feed, needs review": ("/orders/?status=needs_review", {}),
        "metrics": ("/metrics", {}),
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    for url, headers in pages.values():  # warm-up: templates, connections, caches
        for _ in range(5):
            timed(client, url, **headers)
    started = time.perf_counter()
    for _ in range(args.requests):
        for name, (url, headers) in pages.items():  # interleaved, so noise hits every page alike
            if name == COLD:
                cache.clear()
            times[name].append(timed(client, url, **headers))
    elapsed = time.perf_counter() - started

    baseline_p95 = percentile(times[BASELINE], 0.95)
    missed = []
    print(f"\n{args.requests} requests per page in {elapsed:.0f}s; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'page':30} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'p95/baseline':>13} {'goal':>6} {'queries':>8}")
    for name, (url, headers) in pages.items():
        if name == COLD:
            cache.clear()
        p50, p95 = statistics.median(times[name]), percentile(times[name], 0.95)
        ratio, goal = p95 / baseline_p95, GOALS.get(name)
        if goal and ratio > goal:
            missed.append(name)
        rate = 1000 / statistics.mean(times[name])
        print(f"{name:30} {p50:8.1f} {p95:8.1f} {rate:7.0f} {ratio:12.2f}× {f'≤{goal:g}×' if goal else '':>6} {queries(client, url, **headers):8d}")

    # Both times right after a rollup (the charts drawn anew, not from the cache), the backlog counted anew.
    with override_settings(BACKLOG_COUNTS_CACHE_SECONDS=0):
        orders_rollup()
        before = queries(client, "/dashboard/")
        more_orders(2000)
        after = queries(client, "/dashboard/")
        cached = queries(client, "/dashboard/")
    print(f"\ndashboard queries right after a rollup, backlog counted anew: {before} with {Order.objects.count() - 2000:,} orders, "
          f"{after} with {Order.objects.count():,}; {cached} while the charts come from the cache")  # fmt: skip
    if before != after:
        missed.append("constant queries")
    print("goals met" if not missed else f"goals missed: {', '.join(missed)}")
    return 2 if missed else 0


if __name__ == "__main__":
    # Templates use {% static %}; the bench reads the sources, as the tests do, without collectstatic's manifest.
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
        raise SystemExit(main())
