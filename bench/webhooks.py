"""Webhooks in a surge: deliveries per second against plain signed POSTs, and the pipeline's rate with webhooks on and off.

Runs on PostgreSQL and Redis with real Celery workers and a local receiver
(a separate process on 127.0.0.1 that answers 200 and counts what it gets,
keeping connections alive as a customer's web server does):

- The workers (--workers on pipeline+documents, --notifiers on notifications,
  concurrency 1 each) start once and stay up for the whole run, as in
  production. Before each round they stop consuming (Celery remote control)
  while the round's surge is inserted through the intake, so every round
  starts from the same state: warm workers, a backlog of received orders.
- Warm-up: one small round off and one on (--warmup orders), not counted.
- Measured rounds, alternating (off, on, on, off, ...): --orders orders for
  fresh customers, without endpoints ("off": each order still writes its
  events to the outbox, none is delivered) or with one endpoint each taking
  every order event ("on": each order is delivered twice, order.received and
  order.completed). Completion rate: orders completed per second. Delivery
  rate ("on"): the round's order.received deliveries are a backlog waiting
  when the workers resume; from the first one's attempt to the last one's
  success, while the pipeline runs, every delivery made (those and the
  order.completed ones made meanwhile) per second.
- Baseline, before every round and after the last: plain signed POSTs of an
  event-sized body from one process to the same receiver, a new connection
  each (what a delivery does on the wire, nothing more); each "on" round is
  compared with the mean of the baselines just before and after it (the
  goal). The same POSTs over one kept-alive connection are printed beside it.
- Last, one more "off" round with the baseline's POSTs running in a process
  of their own during the surge (not counted in the on/off comparison: they
  take CPU from the pipeline): plain POSTs per second while the pipeline runs,
  the share of the machine a notifications worker has during a surge; each
  "on" round's delivery rate is printed against it too.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench_hooks \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 CACHE_URL=redis://127.0.0.1:6379/6 \\
    .venv/bin/python -m bench.webhooks [--orders 5000] [--rounds 2] [--warmup 500] [--workers 2] [--notifiers 1]

Goals: deliveries/second ≥ 0.5 × the baseline in every "on" round; completion rate "on" within 10 % of "off"
(the mean of the rounds of each kind). The database is migrated and seeded (not dropped); each run adds its own customers.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import mean

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")
os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"  # the receiver is on loopback; the workers inherit it
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from bench.pipeline import (  # noqa: E402
    _bench_customers,
    _insert_orders,
    _purge_pipeline_queues,
    _start_worker,
    _stop,
    _vacuum_and_analyze,
)
from orderdesk.notifications.endpoints import endpoint_create  # noqa: E402
from orderdesk.notifications.models import Event, WebhookDelivery  # noqa: E402
from orderdesk.notifications.outbox import clear_dispatch_pending, publish_dispatch  # noqa: E402
from orderdesk.notifications.signing import signature_header  # noqa: E402
from orders.models import Order  # noqa: E402
from orders.services.queueing import enqueue_new_order  # noqa: E402

ORDER_EVENTS = ["order.received", "order.needs_review", "order.completed", "order.rejected", "order.cancelled"]
PIPELINE_QUEUES = ("pipeline", "documents")
NOTIFICATION_QUEUES = ("notifications",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2, help="measured pairs of rounds (one off, one on each)")
    parser.add_argument("--warmup", type=int, default=500, help="orders of the warm-up rounds (one off, one on)")
    parser.add_argument("--workers", type=int, default=2, help="pipeline worker processes (concurrency 1 each)")
    parser.add_argument("--notifiers", type=int, default=1, help="notifications worker processes (concurrency 1 each)")
    parser.add_argument("--baseline-posts", type=int, default=3000)
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        sys.exit("bench/webhooks.py needs DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://…")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    run = uuid.uuid4().hex[:6].upper()
    print(f"run {run}: load average at start {_load()}")

    receiver = Receiver()
    plan = [("W", False, args.warmup), ("W", True, args.warmup)]
    for index in range(args.rounds):
        pair = [False, True] if index % 2 == 0 else [True, False]
        plan += [(str(index), on, args.orders) for on in pair]
    with tempfile.TemporaryDirectory() as log_dir:
        _purge_pipeline_queues(PIPELINE_QUEUES + NOTIFICATION_QUEUES)
        workers = [_start_worker(Path(log_dir), f"p{i}", "prefork", queues=",".join(PIPELINE_QUEUES)) for i in range(args.workers)]
        workers += [_start_worker(Path(log_dir), f"n{i}", "prefork", queues=",".join(NOTIFICATION_QUEUES)) for i in range(args.notifiers)]
        try:
            baselines = [_baselines(receiver.port, args.baseline_posts)]
            rounds = []
            for label, on, count in plan:
                rounds.append(_round(run, label, on=on, count=count, receiver=receiver))
                baselines.append(_baselines(receiver.port, args.baseline_posts))
                rounds[-1]["baseline"] = mean(b["new"] for b in baselines[-2:])
                rounds[-1]["baseline_kept"] = mean(b["kept"] for b in baselines[-2:])
                _print_round(rounds[-1])
            contended = _round(run, "B", on=False, count=args.orders, receiver=receiver, posting=True)
            _print_round(contended)
        finally:
            _stop(workers)
    receiver.stop()
    met = _summary(rounds, args, contended=contended["posts_rate"])
    sys.exit(0 if met else 2)


def _round(run: str, label: str, *, on: bool, count: int, receiver, posting: bool = False) -> dict:
    """Insert a surge while the workers do not consume, then let them run it; the round's rates.

    `posting`: plain signed POSTs from a process of their own while the surge runs (their rate in "posts_rate").
    """
    customers = _bench_customers(run, f"{label}{'N' if on else 'F'}")
    if on:
        for customer in customers:
            endpoint_create(customer_id=customer.pk, url=f"http://127.0.0.1:{receiver.port}/hooks", events=ORDER_EVENTS)
    _consume(False)
    orders = _insert_orders(run=run, customers=customers, count=count, prefix=f"{label}{'N' if on else 'F'}")
    _vacuum_and_analyze()
    _vacuum_notifications()
    _purge_pipeline_queues(PIPELINE_QUEUES + NOTIFICATION_QUEUES)  # intake's messages; the orders and events wait in the tables
    clear_dispatch_pending()
    load = _load()
    received_before = receiver.count()
    poster = Poster(receiver.port) if posting else None
    _consume(True)
    seconds = _surge(orders, customer_ids=[c.pk for c in customers])
    result = {"label": label, "on": on, "orders": len(orders), "rate": len(orders) / seconds, "seconds": seconds, "load": load}
    if poster:
        result["posts_rate"] = poster.stop()
    result["statuses"] = dict(Counter(Order.objects.filter(pk__in=orders).values_list("status", flat=True)))
    if on:
        deliveries = WebhookDelivery.objects.filter(endpoint__customer__in=customers)
        result["delivery_statuses"] = dict(Counter(deliveries.values_list("status", flat=True)))
        result["events"] = Event.objects.filter(customer__in=customers).count()
        result["requests"] = receiver.count() - received_before
        backlog = deliveries.filter(status="succeeded", event__type="order.received")
        span = backlog.aggregate(first=Min("last_attempt_at"), last=Max("delivered_at"))
        result["backlog"] = backlog.count()
        result["delivery_seconds"] = (span["last"] - span["first"]).total_seconds()
        result["backlog_rate"] = result["backlog"] / result["delivery_seconds"]
        # The order.completed deliveries the notifier made meanwhile are deliveries too.
        result["in_window"] = deliveries.filter(status="succeeded", delivered_at__gte=span["first"], delivered_at__lte=span["last"]).count()
        result["delivery_rate"] = result["in_window"] / result["delivery_seconds"]
    return result


def _surge(order_ids: list[int], *, customer_ids: list[int]) -> float:
    """Enqueue the orders as intake does and wait for every completion; orders completed per second.

    Then waits (not timed) until every event of the round is dispatched and no delivery is pending, so the next
    round starts with nothing left over.
    """
    first, last = min(order_ids), max(order_ids)
    started = time.perf_counter()
    for order_id in order_ids:
        enqueue_new_order(order_id)
    publish_dispatch()  # the events written at intake, as intake's after-commit would
    while Order.objects.filter(status__in=Order.MOVING_STATUSES, pk__gte=first, pk__lte=last).exists():
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    deadline = time.monotonic() + 600
    while (
        Event.objects.filter(customer_id__in=customer_ids, dispatched_at__isnull=True).exists()
        or WebhookDelivery.objects.filter(endpoint__customer_id__in=customer_ids, status="pending").exists()
    ):
        if time.monotonic() > deadline:
            print("  events or deliveries still waiting after 10 minutes")
            break
        time.sleep(0.5)
    return seconds


def _consume(on: bool) -> None:
    """Have the workers start or stop consuming their queues (remote control; the processes stay up and warm)."""
    from orderdesk.celery import app

    for reply in app.control.ping(timeout=2) or []:
        for hostname in reply:
            queues = PIPELINE_QUEUES if hostname.startswith("bench-p") else NOTIFICATION_QUEUES
            for queue in queues:
                if on:
                    app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
                else:
                    app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=5)


def _vacuum_notifications() -> None:
    with connection.cursor() as cursor:
        for table in ("notifications_event", "notifications_webhookdelivery", "notifications_deliveryattempt"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _print_round(r: dict) -> None:
    kind = "on " if r["on"] else "off"
    line = f"round {r['label']} {kind}: {r['orders']} orders in {r['seconds']:.1f} s, {r['rate']:6.1f} orders/s → {r['statuses']}; load {r['load']}"
    print(line)
    if "posts_rate" in r:
        print(f"  plain signed POSTs alongside the surge (new connection each, own process): {r['posts_rate']:6.1f}/s")
    if r["on"]:
        print(f"  deliveries: {r['delivery_statuses']} for {r['events']} events, {r['requests']} requests at the receiver")
        print(f"  delivery rate: {r['delivery_rate']:6.1f} deliveries/s ({r['in_window']} in the {r['delivery_seconds']:.1f} s the "
              f"{r['backlog']} order.received took, {r['backlog_rate']:.1f}/s of those alone); "
              f"baseline {r['baseline']:6.1f} POSTs/s (new connection each) → ratio {r['delivery_rate'] / r['baseline']:.2f}; "
              f"kept-alive POSTs {r['baseline_kept']:6.1f}/s → {r['delivery_rate'] / r['baseline_kept']:.2f}")  # fmt: skip


def _summary(rounds: list[dict], args, *, contended: float) -> bool:
    measured = [r for r in rounds if r["label"] != "W"]
    off = [r["rate"] for r in measured if not r["on"]]
    on = [r["rate"] for r in measured if r["on"]]
    ratios = [r["delivery_rate"] / r["baseline"] for r in measured if r["on"]]
    deliveries = [r["delivery_rate"] for r in measured if r["on"]]
    complete = all(r["delivery_statuses"] == {"succeeded": r["events"]} for r in measured if r["on"])
    print(f"workers: {args.workers} pipeline + {args.notifiers} notifications (concurrency 1 each), "
          f"deliveries in batches of {settings.WEBHOOK_DELIVERY_BATCH}")  # fmt: skip
    print(f"pipeline, webhooks off: {', '.join(f'{rate:.1f}' for rate in off)} orders/s, mean {mean(off):.1f}")
    print(f"pipeline, webhooks on:  {', '.join(f'{rate:.1f}' for rate in on)} orders/s, mean {mean(on):.1f}")
    print(f"ratio on/off:           {mean(on) / mean(off):.2f}   (goal ≥ 0.90)")
    print(f"deliveries:             {', '.join(f'{rate:.1f}' for rate in deliveries)} deliveries/s")
    print(f"deliveries/baseline:    {', '.join(f'{ratio:.2f}' for ratio in ratios)}   (goal ≥ 0.5 each); every event delivered: {complete}")
    print(f"deliveries/POSTs alongside a surge ({contended:.1f}/s): {', '.join(f'{rate / contended:.2f}' for rate in deliveries)}")
    print(f"load average at the end {_load()}")
    return mean(on) / mean(off) >= 0.9 and min(ratios) >= 0.5 and complete


def _baselines(port: int, posts: int) -> dict:
    return {"new": _baseline(port, posts, keep_alive=False), "kept": _baseline(port, posts, keep_alive=True)}


def _baseline(port: int, posts: int, *, keep_alive: bool) -> float:
    """Plain signed POSTs of an event-sized body from this process: a new connection each, or one kept alive."""
    body = json.dumps({"id": "evt_bench", "type": "order.completed", "data": {"object": {"number": "O-2026-000001", "lines": [{}] * 2}}}).encode()
    secret = "whsec_bench"
    conn = None
    started = time.perf_counter()
    for _ in range(posts):
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/hooks", body=body, headers={
            "Content-Type": "application/json",
            "Orderdesk-Signature": signature_header(body=body, secrets=[secret]),
        })  # fmt: skip
        response = conn.getresponse()
        response.read(4096)
        if not keep_alive:
            conn.close()
            conn = None
        assert response.status == 200
    if conn:
        conn.close()
    return posts / (time.perf_counter() - started)


class Poster:
    """Plain signed POSTs (a new connection each) from a process of its own until stopped; stop() gives POSTs/second."""

    def __init__(self, port: int):
        self.stopping = multiprocessing.Event()
        self.rate = multiprocessing.Value("d", 0.0)
        self.process = multiprocessing.Process(target=_post_until, args=(port, self.stopping, self.rate), daemon=True)
        self.process.start()

    def stop(self) -> float:
        self.stopping.set()
        self.process.join(30)
        return self.rate.value


def _post_until(port: int, stopping, rate) -> None:
    posts, started = 0, time.perf_counter()
    while not stopping.is_set():
        _baseline(port, 50, keep_alive=False)
        posts += 50
    rate.value = posts / (time.perf_counter() - started)


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
        # Keeps a connection open between requests and answers without Nagle's delay, as a customer's web server
        # does (the status line and the body go in two writes; with Nagle the second waits 40 ms for an ACK).
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

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


if __name__ == "__main__":
    main()
