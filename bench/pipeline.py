"""The order pipeline in a surge: orders completed per second, against the PDF ceiling.

Inserts a surge of received orders on PostgreSQL, starts Celery workers,
enqueues every order and measures, end to end, how many orders per second reach
`completed` (rules, provisioning through the seat ledger, the quote PDF
rendered and stored). In the same run it measures how many PDFs per second
plain reportlab (bench/pdf_ceiling.py) renders for the same quote in one
process: the ceiling. It prints both and their ratio, and the SQL queries one
order costs, step by step, counted on a sample run in this process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 CACHE_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python -m bench.pipeline [--orders 5000] [--workers 2]

The database is migrated and seeded; each run adds its own customers (codes
BENCH-<run>-…), so runs can repeat on the same database. The broker's
pipeline and documents queues should be otherwise idle.

The surge is enqueued as intake does, through the gather message's de-duplication key
(orders.services.queueing.enqueue_new_order), which needs a cache that this
process and the workers share, as in production. Without CACHE_URL=redis://…
the bench uses the broker's Redis database as the cache (the workers inherit
the environment), and says so.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
# Before settings are read: the gather de-duplication key needs the cache of production, shared by this process and the workers.
_broker_url = os.environ.get("CELERY_BROKER_URL", "")
if _broker_url.startswith("redis://") and not os.environ.get("CACHE_URL", "").startswith("redis://"):
    print(f"cache:                  the broker's Redis ({_broker_url}), shared with the workers")
    os.environ["CACHE_URL"] = _broker_url
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.pdf_ceiling import render_plain_reportlab  # noqa: E402
from bench.pg_sampler import Sampler  # noqa: E402
from licensing.models import Customer  # noqa: E402
from orderdesk.audit import Actor  # noqa: E402
from orders.models import Order  # noqa: E402
from orders.services.documents import order_quote_document  # noqa: E402
from orders.services.intake import order_submit  # noqa: E402
from orders.services.pipeline import order_advance, orders_advance  # noqa: E402
from orders.services.queueing import enqueue_new_order, clear_gather_pending  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
CUSTOMERS = 50
SAMPLE_ORDERS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (each --concurrency 1)")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo"])
    parser.add_argument("--ceiling-renders", type=int, default=300)
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        sys.exit("bench/pipeline.py needs DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://…")

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    run = uuid.uuid4().hex[:6].upper()
    customers = _bench_customers(run, "O")

    sample = _insert_orders(run=run, customers=_bench_customers(run, "S"), count=SAMPLE_ORDERS, prefix="S")
    per_step = _count_queries(sample)
    per_order = [sum(counts.values()) for counts in per_step]
    batch_size = settings.ORDER_PIPELINE_BATCH_SIZE
    batch = _insert_orders(run=run, customers=_bench_customers(run, "B"), count=batch_size, prefix="B")
    batch_steps = _count_batch_queries(batch)

    surge = _insert_orders(run=run, customers=customers, count=args.orders, prefix="O")
    _vacuum_and_analyze()
    document = order_quote_document(order=Order.objects.select_related("customer").get(pk=surge[0]))
    ceiling_before = _ceiling(document, args.ceiling_renders)

    _purge_pipeline_queues()
    with tempfile.TemporaryDirectory() as log_dir:
        workers = [_start_worker(Path(log_dir), index, args.pool) for index in range(args.workers)]
        sampler = Sampler(_database_url())
        sampler.start()
        try:
            seconds, drained_seconds = _run_surge(surge)
        finally:
            locks = sampler.stop()
            _stop(workers)
    ceiling_after = _ceiling(document, args.ceiling_renders)

    ceiling = (ceiling_before + ceiling_after) / 2
    rate = len(surge) / seconds
    statuses = Counter(Order.objects.filter(pk__in=surge).values_list("status", flat=True))
    print(f"orders:                 {len(surge)} received → {dict(statuses)}")
    print(f"workers:                {args.workers} processes ({args.pool}, concurrency 1 each), batches of {batch_size}")
    print(f"pipeline:               {rate:7.1f} orders/second end to end ({seconds:.1f} s)")
    print(f"  queues empty after:   {drained_seconds:.1f} s ({len(surge) / drained_seconds:.1f} orders/second counting "
          f"the gather messages that found no new order left)")  # fmt: skip
    print(f"plain reportlab:        {ceiling:7.1f} pdfs/second, one process "
          f"({ceiling_before:.1f} before, {ceiling_after:.1f} after the surge)")  # fmt: skip
    print(f"ratio pipeline/ceiling: {rate / ceiling:.2f} (queues empty: {len(surge) / drained_seconds / ceiling:.2f})")
    print(f"SQL queries per order:  {sum(batch_steps.values()) / len(batch):.1f} in a batch of {len(batch)} "
          f"({sum(batch_steps.values())} statements for the batch), "
          f"{min(per_order)}–{max(per_order)} for an order on its own (sample of {len(per_order)})")  # fmt: skip
    print("  batch, by step:       " + ", ".join(f"{step} {total}" for step, total in batch_steps.items()))
    steps = Counter()
    for counts in per_step:
        steps.update(counts)
    print("  alone, by step (mean): " + ", ".join(f"{step} {total / len(per_step):.1f}" for step, total in steps.items()))
    print("row locks during the surge (bench/pg_sampler.py, pg_stat_activity every 5 ms):")
    for line in locks.report():
        print(f"  {line}")


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _bench_customers(run: str, group: str) -> list[Customer]:
    return [
        Customer.objects.create(code=f"BENCH-{run}-{group}{index:02d}", name=f"株式会社ベンチ{index:02d}", credit_limit=10**13)
        for index in range(CUSTOMERS)
    ]


def _insert_orders(*, run: str, customers: list[Customer], count: int, prefix: str) -> list[int]:
    """Received orders of two lines (base and add-on), submitted through the intake as the API submits them.

    Each customer's orders differ in quantity, so the duplicate rule lets them through.
    No worker runs yet: they wait in `received`, as a surge leaves them.
    """
    actor = Actor.system("bench")
    order_ids = []
    for index in range(count):
        customer = customers[index % len(customers)]
        quantity = 1 + index // len(customers)
        data = {
            "po_number": f"PO-{prefix}{run}-{index:06d}",
            "lines": [{"sku": "SRA-1Y", "quantity": quantity}, {"sku": "RDA-1Y", "quantity": quantity}],
        }
        order_ids.append(order_submit(customer=customer, data=data, actor=actor, source=Order.Source.API).pk)
    return order_ids


def _count_queries(order_ids: list[int]) -> list[Counter]:
    """Run each sample order through every step in this process, counting SQL queries per step."""
    results = []
    for order_id in order_ids:
        counts = Counter()
        while True:
            status = Order.objects.values_list("status", flat=True).get(pk=order_id)
            if status not in Order.MOVING_STATUSES:
                break
            with CaptureQueriesContext(connection) as queries:
                order_advance(order_id=order_id)
            counts[status] += len(queries)
        results.append(counts)
    return results


def _vacuum_and_analyze() -> None:
    """Vacuum and analyse the tables the pipeline reads and writes, as autovacuum keeps them in production.

    The bench inserts its surge in bulk, and a development server may run
    without autovacuum (this machine's does): never analysed, the order lines
    were planned as a sequential scan of every line for the 50 orders of a
    batch (25 ms instead of 0.1), and never vacuumed, the updates of earlier
    runs left hundreds of thousands of dead rows in the order table's indexes.
    The surge itself runs without a vacuum, as it would between autovacuum rounds.
    """
    tables = [
        "orders_order", "orders_orderline", "orders_orderevent", "orders_orderdocument",
        "licensing_customer", "licensing_subscription", "licensing_seatledgerentry", "licensing_licensekey",
    ]  # fmt: skip
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def _count_batch_queries(order_ids: list[int]) -> Counter:
    """Run one batch through every step in this process, as the workers do; SQL queries per step for the batch."""
    counts = Counter()
    while True:
        current = set(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True)) & set(Order.MOVING_STATUSES)
        if not current:
            return counts
        with CaptureQueriesContext(connection) as queries:
            orders_advance(order_ids=order_ids)
        counts["+".join(sorted(current))] += len(queries)


def _ceiling(document, renders: int) -> float:
    render_plain_reportlab(document)  # warm-up: font parsing is not part of a render
    started = time.perf_counter()
    for _ in range(renders):
        render_plain_reportlab(document)
    return renders / (time.perf_counter() - started)


def _start_worker(log_dir: Path, index: int | str, pool: str, *, queues: str = "pipeline,documents") -> subprocess.Popen:
    log_path = log_dir / f"worker-{index}.log"
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "orderdesk", "worker", "--pool", pool,
        "--concurrency", "1", "--queues", queues, "--hostname", f"bench-{index}-{uuid.uuid4().hex[:6]}@%h",
        "--loglevel", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    log = open(log_path, "wb")
    worker = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready" not in log_path.read_text(errors="replace"):
        # --loglevel WARNING hides "ready."; ask the worker instead.
        if _answers_ping(worker, index):
            break
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"worker {index} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    return worker


def _answers_ping(worker: subprocess.Popen, index: int | str) -> bool:
    from orderdesk.celery import app

    replies = app.control.ping(timeout=0.5) or []
    return any(name.startswith(f"bench-{index}-") for reply in replies for name in reply)


def _run_surge(order_ids: list[int]) -> tuple[float, float]:
    """Enqueue every order as intake does (one gather message per burst) and wait until none is left moving.

    Returns the seconds from the first order enqueued to the last completion,
    and to the moment the queues are empty as well: a gather message published
    while the last batches were moving may still be delivered, and find nothing.
    """
    started = time.perf_counter()
    for order_id in order_ids:
        enqueue_new_order(order_id)
    # Cheap to ask (the status index, no 5,000-id list), and not too often: the poll shares the CPUs.
    first, last = min(order_ids), max(order_ids)
    while Order.objects.filter(status__in=Order.MOVING_STATUSES, pk__gte=first, pk__lte=last).exists():
        time.sleep(0.5)
    completed = time.perf_counter() - started
    while _queued_messages():
        time.sleep(0.5)
    return completed, time.perf_counter() - started


def _queued_messages() -> int:
    from orderdesk.celery import app

    with app.connection_for_write() as broker:
        queues = [queue for queue in app.conf.task_queues if queue.name in ("pipeline", "documents")]
        return sum(queue(broker.default_channel).queue_declare().message_count for queue in queues)


def _purge_pipeline_queues(queues: tuple[str, ...] = ("pipeline", "documents")) -> None:
    """Empty the queues, and clear the gather-pending key: a gather message an earlier run left pending is gone with them."""
    from orderdesk.celery import app

    with app.connection_for_write() as broker:
        for name in queues:
            broker.default_channel.queue_purge(name)
    clear_gather_pending()


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()  # warm shutdown: the running task finishes
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


if __name__ == "__main__":
    main()
