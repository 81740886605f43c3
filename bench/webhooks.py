"""Webhooks in a surge: deliveries per second against plain signed POSTs, and the pipeline's rate with webhooks on and off.

Runs on PostgreSQL and Redis with real Celery workers and a local receiver
(a separate process on 127.0.0.1 that answers 200 and counts what it gets):

1. Baseline: plain signed POSTs from one process to the same receiver (sign
   the body, open a connection, POST, read the answer: what one delivery does
   on the wire), before and after the surges.
2. Surge "off": --orders orders through the pipeline for customers without
   endpoints (each order still writes its events to the outbox; none is
   delivered). Completion rate: orders completed per second.
3. Surge "on": as many orders for customers whose endpoint takes every order
   event: each order is delivered twice (order.received, order.completed).
   Completion rate as above; deliveries per second from the first delivery to
   the last, while the pipeline runs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench_hooks \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 CACHE_URL=redis://127.0.0.1:6379/6 \\
    .venv/bin/python -m bench.webhooks [--orders 5000] [--workers 2] [--notifiers 1]

Goals: deliveries/second ≥ 0.5 × the baseline; completion rate "on" within 10 % of "off".
The database is migrated and seeded (not dropped); each run adds its own customers.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")
os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"  # the receiver is on loopback; the workers inherit it
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from bench.pipeline import _bench_customers, _insert_orders, _vacuum_and_analyze  # noqa: E402
from orderdesk.notifications.endpoints import endpoint_create  # noqa: E402
from orderdesk.notifications.models import Event, WebhookDelivery  # noqa: E402
from orderdesk.notifications.outbox import clear_dispatch_pending  # noqa: E402
from orderdesk.notifications.signing import signature_header  # noqa: E402
from orders.models import Order  # noqa: E402
from orders.services.queueing import clear_gather_pending, enqueue_new_order  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORDER_EVENTS = ["order.received", "order.needs_review", "order.completed", "order.rejected", "order.cancelled"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="pipeline worker processes (concurrency 1 each)")
    parser.add_argument("--notifiers", type=int, default=1, help="notifications worker processes (concurrency 1 each)")
    parser.add_argument("--baseline-posts", type=int, default=3000)
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        sys.exit("bench/webhooks.py needs DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://…")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    run = uuid.uuid4().hex[:6].upper()

    receiver = Receiver()
    print(f"load average at start:  {os.getloadavg()}")
    baseline_before = _baseline(receiver.port, args.baseline_posts)
    print(f"baseline (before):      {baseline_before:7.1f} signed POSTs/second, one process")

    off_customers = _bench_customers(run, "F")
    on_customers = _bench_customers(run, "N")
    for customer in on_customers:
        endpoint_create(customer_id=customer.pk, url=f"http://127.0.0.1:{receiver.port}/hooks", events=ORDER_EVENTS)
    received_before = receiver.count()
    off_orders, off = _phase(run, off_customers, "F", args, receiver=receiver, deliveries_expected=0)
    on_orders, on = _phase(run, on_customers, "N", args, receiver=receiver, deliveries_expected=2 * args.orders)
    requests = receiver.count() - received_before
    baseline_after = _baseline(receiver.port, args.baseline_posts)
    receiver.stop()
    baseline = (baseline_before + baseline_after) / 2

    deliveries = WebhookDelivery.objects.filter(event__customer__in=on_customers)
    statuses = Counter(deliveries.values_list("status", flat=True))
    delivered = statuses.get("succeeded", 0)
    # The surge's order.received events wait in the outbox when the workers start: a backlog that shows how fast
    # deliveries go (the order.completed ones follow the pipeline's pace, one by one as orders complete).
    backlog = deliveries.filter(status="succeeded", event__type="order.received")
    span = backlog.aggregate(first=Min("last_attempt_at"), last=Max("delivered_at"))
    delivery_seconds = (span["last"] - span["first"]).total_seconds()
    delivery_rate = backlog.count() / delivery_seconds
    whole = deliveries.filter(status="succeeded").aggregate(first=Min("last_attempt_at"), last=Max("delivered_at"))
    whole_seconds = (whole["last"] - whole["first"]).total_seconds()
    attempts = sum(deliveries.values_list("attempts", flat=True))
    events_on = Event.objects.filter(customer__in=on_customers).count()
    print(f"orders:                 {len(off_orders)} off → {dict(_statuses(off_orders))}, {len(on_orders)} on → {dict(_statuses(on_orders))}")
    print(f"workers:                {args.workers} pipeline + {args.notifiers} notifications (concurrency 1 each), "
          f"deliveries in batches of {settings.WEBHOOK_DELIVERY_BATCH}")  # fmt: skip
    print(f"baseline:               {baseline:7.1f} signed POSTs/second ({baseline_before:.1f} before, {baseline_after:.1f} after)")
    print(f"deliveries:             {delivered} of {events_on} events delivered ({dict(statuses)}), {attempts} attempts, "
          f"{requests} requests at the receiver")  # fmt: skip
    print(f"delivery rate:          {delivery_rate:7.1f} deliveries/second: the {backlog.count()} order.received in {delivery_seconds:.1f} s, during the surge")
    print(f"  all deliveries:       {delivered / whole_seconds:7.1f} deliveries/second over {whole_seconds:.1f} s (the completed ones at the pipeline's pace)")
    print(f"ratio deliveries/baseline: {delivery_rate / baseline:.2f}   (goal ≥ 0.5)")
    print(f"pipeline, webhooks off: {off:7.1f} orders/second completed")
    print(f"pipeline, webhooks on:  {on:7.1f} orders/second completed")
    print(f"ratio on/off:           {on / off:.2f}   (goal ≥ 0.90)")
    met = delivery_rate / baseline >= 0.5 and on / off >= 0.9 and delivered == events_on
    sys.exit(0 if met else 2)


def _phase(run, customers, prefix, args, *, receiver, deliveries_expected: int):
    """Insert the surge with no worker running (as a surge leaves the orders), then start the workers and run it."""
    orders = _insert_orders(run=run, customers=customers, count=args.orders, prefix=prefix)
    _vacuum_and_analyze()
    _purge_queues()  # the messages intake published; the events wait undispatched and the orders received
    with tempfile.TemporaryDirectory() as log_dir:
        workers = [_start_worker(Path(log_dir), f"p{i}", "pipeline,documents") for i in range(args.workers)]
        workers += [_start_worker(Path(log_dir), f"n{i}", "notifications") for i in range(args.notifiers)]
        try:
            rate = _surge(orders, deliveries_expected=deliveries_expected, receiver=receiver)
        finally:
            _stop(workers)
    print(f"load average:           {os.getloadavg()} (after {prefix})")
    return orders, rate


def _statuses(order_ids) -> Counter:
    return Counter(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True))


def _surge(order_ids: list[int], *, deliveries_expected: int, receiver) -> float:
    """Enqueue the orders as intake does and wait for every completion (and delivery); orders completed per second."""
    first, last = min(order_ids), max(order_ids)
    started = time.perf_counter()
    for order_id in order_ids:
        enqueue_new_order(order_id)
    from orderdesk.notifications.outbox import publish_dispatch

    publish_dispatch()  # the outbox's events written at intake, as intake's after-commit would
    while Order.objects.filter(status__in=Order.MOVING_STATUSES, pk__gte=first, pk__lte=last).exists():
        time.sleep(0.5)
    completed = time.perf_counter() - started
    if deliveries_expected:
        deadline = time.monotonic() + 600
        customers = _customer_ids(order_ids)
        while WebhookDelivery.objects.filter(status="succeeded", endpoint__customer_id__in=customers).count() < deliveries_expected:
            if time.monotonic() > deadline:
                print("deliveries did not finish within 10 minutes")
                break
            time.sleep(1)
    return len(order_ids) / completed


def _customer_ids(order_ids) -> set[int]:
    return set(Order.objects.filter(pk__in=order_ids).values_list("customer_id", flat=True).distinct())


def _baseline(port: int, posts: int) -> float:
    """Plain signed POSTs of an order.completed-sized body, one connection each, from this process."""
    body = json.dumps({"id": "evt_bench", "type": "order.completed", "data": {"object": {"number": "O-2026-000001", "lines": [{}] * 2}}}).encode()
    secret = "whsec_bench"
    started = time.perf_counter()
    for _ in range(posts):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/hooks", body=body, headers={
            "Content-Type": "application/json",
            "Orderdesk-Signature": signature_header(body=body, secrets=[secret]),
        })  # fmt: skip
        response = conn.getresponse()
        response.read(4096)
        conn.close()
        assert response.status == 200
    return posts / (time.perf_counter() - started)


class Receiver:
    """A ThreadingHTTPServer in its own process, answering 200 and counting requests."""

    def __init__(self):
        self.counter = multiprocessing.Value("l", 0)
        ready = multiprocessing.Event()
        self.port_value = multiprocessing.Value("i", 0)
        self.process = multiprocessing.Process(target=_serve, args=(self.counter, self.port_value, ready), daemon=True)
        self.process.start()
        ready.wait(10)
        self.port = self.port_value.value

    def count(self) -> int:
        return self.counter.value

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def _serve(counter, port_value, ready) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with counter.get_lock():
                counter.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_value.value = server.server_address[1]
    ready.set()
    server.serve_forever()


def _start_worker(log_dir: Path, name: str, queues: str) -> subprocess.Popen:
    log_path = log_dir / f"worker-{name}.log"
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "orderdesk", "worker", "--pool", "prefork",
        "--concurrency", "1", "--queues", queues, "--hostname", f"bench-{name}-{uuid.uuid4().hex[:6]}@%h",
        "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    log = open(log_path, "wb")
    worker = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while " ready." not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"worker {name} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    return worker


def _purge_queues() -> None:
    from orderdesk.celery import app

    with app.connection_for_write() as broker:
        for name in ("pipeline", "documents", "notifications"):
            broker.default_channel.queue_purge(name)
    clear_gather_pending()
    clear_dispatch_pending()


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


if __name__ == "__main__":
    main()
