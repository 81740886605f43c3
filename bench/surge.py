"""A realistic surge through the real API: do the people only see the orders that need them?

Run from the project root (PostgreSQL and Redis must be up):

    .venv/bin/python bench/surge.py                                   # 10,000 orders from 300 customers
    .venv/bin/python bench/surge.py --orders 1000 --customers 60      # a quick look
    .venv/bin/python bench/surge.py --seed 7 --json surge.json

What one run does, all on this machine's loopback:

1. Recreates a PostgreSQL database whose name contains "bench" (it is dropped:
   any other name is refused), migrates it, loads seed_demo, and creates the
   surge's customers (SURGE-0001…), each with an API token and a credit limit
   that holds its ordinary orders (1.3–3 times their total).
2. Plans the surge from --seed: each order goes to a customer (some order more
   than others); each customer orders SRA-1Y in quantities no other order of
   its own repeats, and a third of the customers add RDA-1Y seats, at most half
   the base. --anomalies of the orders (5 %) are of three kinds, as many of each:
   a quantity far over the per-order cap (5–20 times), add-on seats far beyond
   every base seat the customer will ever have, and a resubmission of one of the
   customer's earlier orders under its PO number written another way (lower
   case, full-width, spaced, or with a revision mark such as "-R1" or "（再送）").
   The same seed gives the same customers, orders, keys and lost responses.
3. Starts gunicorn (2 × 4 threads, as gunicorn.conf.py) on a free port.
   Idle phase: the intake bench's load (bench/intake.py: 2-line orders from
   DEMO1 and DEMO2, --clients client threads) for --idle-seconds with no worker
   running: the idle p99 the surge's is compared with. Those orders are then
   cancelled in the database and their messages purged, so the surge is alone.
4. Starts --workers Celery worker processes (queues pipeline and documents,
   concurrency 1 each) and Celery beat (the sweeper), then the surge: --clients
   client threads, each the purchasing system of its own customers, POST every
   planned order to /api/v1/orders/ with its Idempotency-Key. A client retries
   with the same key and body on a connection error, a 5xx, a 429 (after
   Retry-After) or a 409 in flight; for --lost-responses of the orders (1 %)
   it drops the connection before reading the first response, as after a
   timeout, and retries. The pipeline is saturated for the whole intake.
5. Waits until no surge order is moving (each completed, or waiting for a
   person), then checks: every order got a 201, each order's 201s (first and
   replays) name one order, the database holds exactly one order per planned
   order and no other, and the seat ledger holds exactly the seats of the
   completed orders (one entry and one key per line, nothing for held orders).

It prints: the load average; intake rate, p50 and p99 idle and during the
surge, and their p99 ratio (goal: within 4×); the share of ordinary orders
completed with no person (goal: at least 95 %) and why the others wait; the
share of anomalies held with their reason (goal: 100 %); the time until every
order was final; and the checks. Exit status: 0 goals met, 1 a check failed,
2 checks passed but a goal was missed. The database is left for inspection.
"""

import argparse
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from bench.intake import Phase, database_name, free_port, percentile, recreate_database, start_gunicorn, stop  # noqa: E402

ORDERS_PATH = "/api/v1/orders/"
COMPLETED_GOAL = 0.95
HELD_GOAL = 1.0
P99_GOAL = 4.0
ORDINARY = "ordinary"
OVER_CAP, ADDON_EXCESS, RESUBMISSION = "over_cap", "addon_excess", "resubmission"
ANOMALY_KINDS = (OVER_CAP, ADDON_EXCESS, RESUBMISSION)
EXPECTED_REASON = {OVER_CAP: "QUANTITY_OVER_CAP", ADDON_EXCESS: "ADDON_EXCEEDS_BASE", RESUBMISSION: "SUSPECTED_DUPLICATE"}
RETRIED_STATUSES = {0, 409, 429, 500, 502, 503, 504}
MOVING = ("received", "validated", "approved", "provisioning", "documenting")


# --- command line and environment ----------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A realistic surge through the real API, gunicorn, Celery, PostgreSQL and Redis.")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/orderdesk_bench_surge",
        help="PostgreSQL database to RECREATE; its name must contain 'bench'",
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11", help="Celery broker")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/12", help="Django cache (rate limit, the gather-pending key)")
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the surge")
    parser.add_argument("--customers", type=int, default=300, help="customers placing them")
    parser.add_argument("--anomalies", type=float, default=0.05, help="share of anomalous orders, of three kinds")
    parser.add_argument("--addon-customers", type=float, default=1 / 3, help="share of customers that add RDA-1Y seats")
    parser.add_argument("--lost-responses", type=float, default=0.01, help="share of orders whose first response the client drops")
    parser.add_argument("--seed", type=int, default=2026, help="the surge is the same for the same seed")
    parser.add_argument("--clients", type=int, default=8, help="client threads, in the idle phase and in the surge")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (concurrency 1 each)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="length of the idle intake phase")
    parser.add_argument("--timeout", type=float, default=3600.0, help="most seconds to wait for every order to be final")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if "bench" not in database_name(args.database_url):
        parser.error(f"refusing to recreate {database_name(args.database_url)!r}: use a database whose name contains 'bench'")
    if urlsplit(args.database_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--database-url must point at this machine (127.0.0.1)")
    if not 0 <= args.anomalies < 1 or not 0 <= args.lost_responses < 1 or not 0 <= args.addon_customers <= 1:
        parser.error("--anomalies and --lost-responses are shares below 1, --addon-customers a share up to 1")
    if args.orders < 1 or args.customers < 1 or args.orders < 2 * args.customers:
        parser.error("--orders must be at least twice --customers (each customer orders at least twice)")
    return args


def configure_environment(args, workdir: Path) -> None:
    """This process, gunicorn, the workers and beat all run with these settings."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "orderdesk.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "CACHE_URL": args.cache_url,
            "API_RATE_LIMIT": "100000000/min",
            "ORDERDESK_LOCAL": "1",  # gunicorn on loopback, plain HTTP, a generated secret key in var/
            "ORDERDESK_VAR_DIR": str(workdir / "var"),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )


# --- the plan --------------------------------------------------------------------------------


@dataclass
class Submission:
    """One purchase order a customer's system sends, and what happened to it."""

    customer: str
    po_number: str
    lines: list[tuple[str, int]]
    kind: str
    key: str
    lose_first_response: bool
    original_po: str = ""  # a resubmission: the PO number it repeats
    numbers: set = field(default_factory=set)  # order numbers in the 201s (first and replays)
    statuses: list = field(default_factory=list)
    latency: float | None = None  # of the 201 that created the order (not a replay)

    def body(self) -> bytes:
        order = {"po_number": self.po_number, "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in self.lines]}
        return json.dumps(order, ensure_ascii=False).encode()


@dataclass
class Plan:
    credit_limits: dict[str, int]
    submissions: list[Submission]
    streams: list[list[Submission]]  # one per client, in sending order


def full_width(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


# Ways a purchasing team writes the same PO number again (orders.duplicates.normalize_po_number undoes each).
PO_REWRITES = (
    lambda po: po.lower(),
    full_width,
    lambda po: po.replace("-", " "),
    lambda po: f"{po}-R1",
    lambda po: f"{po} rev.2",
    lambda po: f"{po}（再送）",
    lambda po: f"{po.lower()}_v2",
)


def plan_surge(args, totals_of) -> Plan:
    """Customers, their orders and anomalies, the keys and the lost responses, all from --seed.

    `totals_of(lines)` is the order total the server will compute (licensing.pricing).
    """
    rng = random.Random(args.seed)
    cap = 1000  # ORDER_REVIEW_MAX_QUANTITY's default, which the server runs with
    codes = [f"SURGE-{index:04d}" for index in range(1, args.customers + 1)]
    anomaly_count = round(args.orders * args.anomalies)
    ordinary_count = args.orders - anomaly_count
    # Some customers order far more than others; each orders at least once.
    weights = [rng.lognormvariate(0, 0.6) for _code in codes]
    per_customer = Counter(codes)
    for code in rng.choices(codes, weights=weights, k=ordinary_count - len(codes)):
        per_customer[code] += 1
    addon_customers = set(rng.sample(codes, round(len(codes) * args.addon_customers)))
    sequences: dict[str, list[Submission]] = {}
    for code in codes:
        count = per_customer[code]
        quantities = rng.sample(range(1, max(400, 2 * count)), count)  # distinct per customer
        prefix = rng.choice(["PO", "HN", "ORD", "発注", "KB"])
        serial = rng.randint(1000, 90000)
        orders = []
        for quantity in quantities:
            serial += rng.randint(1, 7)
            lines = [("SRA-1Y", quantity)]
            if code in addon_customers and quantity >= 2:
                lines.append(("RDA-1Y", rng.randint(1, quantity // 2)))
            orders.append(Submission(code, f"{prefix}-2026-{serial:05d}", lines, ORDINARY, "", False))
        sequences[code] = orders
    base_seats = {code: sum(quantity for order in orders for sku, quantity in order.lines if sku == "SRA-1Y") for code, orders in sequences.items()}
    credit_limits = {
        code: math.ceil(sum(totals_of(order.lines) for order in orders) * rng.uniform(1.3, 3.0) / 100_000) * 100_000
        for code, orders in sequences.items()
    }
    kinds = [ANOMALY_KINDS[index % len(ANOMALY_KINDS)] for index in range(anomaly_count)]
    rng.shuffle(kinds)
    used_pos = {code: {order.po_number for order in orders} for code, orders in sequences.items()}
    for kind in kinds:
        code = rng.choice(codes)
        orders = sequences[code]
        position = rng.randint(1, len(orders))  # after at least one ordinary order
        if kind == OVER_CAP:
            anomaly = Submission(code, "", [("SRA-1Y", rng.randint(5 * cap, 20 * cap))], kind, "", False)
        elif kind == ADDON_EXCESS:
            anomaly = Submission(code, "", [("RDA-1Y", base_seats[code] + rng.randint(100, 1000))], kind, "", False)
        else:
            earlier = [order for order in orders[:position] if order.kind == ORDINARY]
            original = rng.choice(earlier)
            rewrites = [rewrite(original.po_number) for rewrite in PO_REWRITES]
            fresh = [po for po in rewrites if po not in used_pos[code]]
            if not fresh:
                continue
            anomaly = Submission(code, rng.choice(fresh), list(original.lines), kind, "", False, original_po=original.po_number)
        if not anomaly.po_number:
            anomaly.po_number = f"{orders[0].po_number.split('-')[0]}-2026-X{rng.randint(10000, 99999)}"
            while anomaly.po_number in used_pos[code]:
                anomaly.po_number += "1"
        used_pos[code].add(anomaly.po_number)
        orders.insert(position, anomaly)
    submissions = []
    for code in codes:
        for index, submission in enumerate(sequences[code]):
            submission.key = f"surge-{args.seed}-{code}-{index:05d}"
            submission.lose_first_response = rng.random() < args.lost_responses
            submissions.append(submission)
    streams = [_interleave([sequences[code] for code in codes[client :: args.clients]], rng) for client in range(args.clients)]
    return Plan(credit_limits=credit_limits, submissions=submissions, streams=streams)


def _interleave(sequences: list[list[Submission]], rng: random.Random) -> list[Submission]:
    """A client's customers' orders in one stream: each customer's in its own order, the customers mixed."""
    remaining = [list(sequence) for sequence in sequences if sequence]
    stream = []
    while remaining:
        sequence = rng.choices(remaining, weights=[len(sequence) for sequence in remaining])[0]
        stream.append(sequence.pop(0))
        if not sequence:
            remaining.remove(sequence)
    return stream


# --- the database ------------------------------------------------------------------------------


def prepare():
    """A fresh, migrated, seeded database; returns the function that prices an order as the server does."""
    import django

    django.setup()
    from django.core.management import call_command

    from licensing.pricing import LineAmount, document_totals, tier_unit_price
    from licensing.selectors import priced_products

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    catalog = priced_products(["SRA-1Y", "RDA-1Y"])

    def totals_of(lines) -> int:
        amounts = []
        for sku, quantity in lines:
            product = catalog[sku]
            amounts.append(LineAmount(amount=tier_unit_price(product.tiers, quantity) * quantity, tax_rate=product.tax_rate))
        return document_totals(amounts).total

    return totals_of


def create_customers(plan: Plan) -> dict[str, str]:
    """The surge's customers with their credit limits; returns code → raw API token."""
    from licensing.models import ApiToken, Customer

    Customer.objects.bulk_create(
        [
            Customer(code=code, name=f"株式会社サージ{code[-4:]}", billing_email=f"buy@{code.lower()}.example.jp", credit_limit=limit)
            for code, limit in plan.credit_limits.items()
        ]
    )
    return {customer.code: ApiToken.objects.issue(customer=customer, name="bench/surge.py")[1] for customer in Customer.objects.filter(code__in=plan.credit_limits)}


def issue_demo_tokens() -> list[str]:
    from licensing.models import ApiToken, Customer

    return [ApiToken.objects.issue(customer=Customer.objects.get(code=code), name="bench/surge.py idle")[1] for code in ("DEMO1", "DEMO2")]


def forget_idle_orders() -> int:
    """The idle phase's orders (DEMO1, DEMO2) are cancelled and their messages purged: the surge runs alone."""
    from orderdesk.celery import app
    from orders.models import Order
    from orders.services.queueing import clear_gather_pending

    cancelled = Order.objects.filter(customer__code__in=("DEMO1", "DEMO2")).update(status="cancelled", status_reason="bench/surge.py idle phase")
    with app.connection_for_write() as broker:
        for name in ("pipeline", "documents"):
            broker.default_channel.queue_purge(name)
    clear_gather_pending()
    return cancelled


def vacuum_analyze() -> None:
    """Fresh statistics for the planner after the seed, as autovacuum would keep them (see bench/pipeline.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("orders_order", "orders_orderline", "orders_orderevent", "licensing_customer", "licensing_apitoken"):
            cursor.execute(f"VACUUM ANALYZE {table}")


# --- the workers -----------------------------------------------------------------------------------


def start_celery(workdir: Path, workers: int) -> list[subprocess.Popen]:
    processes = []
    celery = str(BIN / "celery")
    for index in range(workers):
        log = workdir / f"worker-{index}.log"
        command = [
            celery, "-A", "orderdesk", "worker", "--pool", "prefork", "--concurrency", "1", "--queues", "pipeline,documents",
            "--hostname", f"surge-{index}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT))
    beat_log = workdir / "beat.log"
    beat = [celery, "-A", "orderdesk", "beat", "--schedule", str(workdir / "beat-schedule"), "--loglevel", "WARNING"]
    processes.append(subprocess.Popen(beat, cwd=ROOT, stdout=open(beat_log, "wb"), stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 90
    for index in range(workers):
        log = workdir / f"worker-{index}.log"
        while "ready." not in log.read_text(errors="replace"):
            if processes[index].poll() is not None or time.monotonic() > deadline:
                stop_all(processes)
                sys.exit(f"worker {index} did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
    return processes


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the clients -------------------------------------------------------------------------------------


class Client(threading.Thread):
    """One purchasing system: its own keep-alive connection, its customers' orders one after another."""

    def __init__(self, *, port: int, tokens: dict[str, str], stream: list[Submission]):
        super().__init__(daemon=True)
        self.port = port
        self.tokens = tokens
        self.stream = stream
        self.conn = self._connect()
        self.retries = 0
        self.dropped = 0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def run(self) -> None:
        for submission in self.stream:
            self.send(submission)
        self.conn.close()

    def send(self, submission: Submission) -> None:
        headers = {
            "Authorization": f"Token {self.tokens[submission.customer]}",
            "Content-Type": "application/json",
            "Idempotency-Key": submission.key,
        }
        body = submission.body()
        drop = submission.lose_first_response
        for attempt in range(60):
            started = time.perf_counter()
            try:
                self.conn.request("POST", ORDERS_PATH, body=body, headers=headers)
                if drop:  # the request went out; the answer never comes back (a timeout): retry with the key
                    drop = False
                    self.dropped += 1
                    self.conn.close()
                    self.conn = self._connect()
                    status, replayed, answer, retry_after = 0, False, {}, 0.05
                else:
                    response = self.conn.getresponse()
                    raw = response.read()
                    status, replayed = response.status, response.getheader("Idempotent-Replayed") == "true"
                    retry_after = float(response.getheader("Retry-After") or 0)
                    answer = json.loads(raw) if raw else {}
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = self._connect()
                status, replayed, answer, retry_after = 0, False, {}, 0
            elapsed = time.perf_counter() - started
            submission.statuses.append(status)
            if status == 201:
                submission.numbers.add(answer.get("number"))
                if not replayed:
                    submission.latency = elapsed
                return
            if status not in RETRIED_STATUSES or (status == 409 and answer.get("type", "").split("/")[-1] != "idempotency-key-in-flight"):
                return  # refused for good: recorded, the checks report it
            self.retries += 1
            time.sleep(retry_after or min(2.0, 0.05 * 2**attempt))


def run_surge(port: int, tokens: dict[str, str], plan: Plan) -> tuple[float, list[Client]]:
    clients = [Client(port=port, tokens=tokens, stream=stream) for stream in plan.streams]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return time.perf_counter() - started, clients


def wait_until_final(plan: Plan, started: float, timeout: float, loads: list) -> float | None:
    """Seconds from the surge's start until no surge order is moving; None on timeout. Prints progress."""
    from django.db.models import Count

    from orders.models import Order

    surge_orders = Order.objects.filter(customer__code__startswith="SURGE-")
    expected = sum(1 for submission in plan.submissions if submission.numbers)
    last_print = 0.0
    while True:
        now = time.perf_counter()
        counts = Counter(dict(surge_orders.order_by().values_list("status").annotate(n=Count("pk"))))
        loads.append(os.getloadavg()[0])
        moving = sum(counts[status] for status in MOVING)
        if sum(counts.values()) >= expected and moving == 0:
            return now - started
        if now - last_print >= 15:
            print(f"  {now - started:7.0f} s  {dict(sorted(counts.items()))}  load {loads[-1]:.1f}", flush=True)
            last_print = now
        if now - started > timeout:
            return None
        time.sleep(2)


# --- measuring and checking --------------------------------------------------------------------------


def latency_summary(latencies: list[float], seconds: float) -> dict:
    return {
        "created": len(latencies),
        "rate": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
    }


def outcomes(plan: Plan) -> dict:
    """What became of the surge's orders, read from the database, and the checks that nothing was lost or doubled."""
    from django.db.models import Count, Sum

    from licensing.models import LicenseKey, SeatLedgerEntry
    from orders.models import Order, OrderEvent, OrderLine

    orders = {
        (code, po): (number, status, reasons, pk)
        for pk, code, po, number, status, reasons in Order.objects.filter(customer__code__startswith="SURGE-").values_list(
            "pk", "customer__code", "po_number", "number", "status", "review_reasons"
        )
    }
    touched_by_person = set(
        OrderEvent.objects.filter(order__customer__code__startswith="SURGE-", actor__isnull=False).values_list("order_id", flat=True)
    )
    result = {
        "ordinary": Counter(),
        "ordinary_held_reasons": Counter(),
        "anomalies": {kind: Counter() for kind in ANOMALY_KINDS},
        "anomaly_reasons": {kind: Counter() for kind in ANOMALY_KINDS},
    }
    no_201, split_201, missing_row, wrong_number = [], [], [], []
    for submission in plan.submissions:
        row = orders.get((submission.customer, submission.po_number))
        if not submission.numbers:
            no_201.append(submission.po_number)
        elif len(submission.numbers) > 1:
            split_201.append(submission.po_number)
        if row is None:
            missing_row.append(submission.po_number)
            continue
        number, status, reasons, pk = row
        if submission.numbers and submission.numbers != {number}:
            wrong_number.append(submission.po_number)
        if submission.kind == ORDINARY:
            straight = status == "completed" and pk not in touched_by_person
            result["ordinary"]["completed with no person" if straight else status] += 1
            if status == "needs_review":
                result["ordinary_held_reasons"][",".join(reasons)] += 1
        else:
            right = status == "needs_review" and EXPECTED_REASON[submission.kind] in reasons
            result["anomalies"][submission.kind]["held with the right reason" if right else status] += 1
            result["anomaly_reasons"][submission.kind][",".join(reasons)] += 1
    planned = {(submission.customer, submission.po_number) for submission in plan.submissions}
    unplanned = [key for key in orders if key not in planned]
    # Seats exactly as ordered: the ledger holds the lines of the completed orders, once each, and nothing else.
    completed_lines = OrderLine.objects.filter(order__customer__code__startswith="SURGE-", order__status="completed")
    ordered = {
        (code, sku): seats
        for code, sku, seats in completed_lines.values_list("order__customer__code", "sku").annotate(seats=Sum("quantity"))
    }
    ledger = {
        (code, sku): seats
        for code, sku, seats in SeatLedgerEntry.objects.filter(subscription__customer__code__startswith="SURGE-")
        .values_list("subscription__customer__code", "subscription__product__sku")
        .annotate(seats=Sum("quantity"))
    }
    entries = SeatLedgerEntry.objects.filter(subscription__customer__code__startswith="SURGE-").aggregate(n=Count("pk"))["n"]
    keys = LicenseKey.objects.filter(subscription__customer__code__startswith="SURGE-").count()
    line_count = completed_lines.count()
    held_with_seats = SeatLedgerEntry.objects.filter(
        reference__in=[
            f"order-line:{pk}"
            for pk in OrderLine.objects.filter(order__customer__code__startswith="SURGE-").exclude(order__status="completed").values_list("pk", flat=True)
        ]
    ).count()
    result["checks"] = [
        (f"every order got a 201 (without: {len(no_201)})", not no_201),
        (f"each order's 201s, first and replays, name one order (more than one: {len(split_201)})", not split_201),
        (f"the database holds one order per planned order (missing: {len(missing_row)}, other number: {len(wrong_number)})", not missing_row and not wrong_number),
        (f"and no other (unplanned orders: {len(unplanned)})", not unplanned),
        (f"seats in the ledger = seats of completed orders, per customer and SKU ({len(ordered)} pairs)", ordered == ledger),
        (f"one ledger entry and one key per completed line ({entries} entries, {keys} keys, {line_count} lines)", entries == keys == line_count),
        (f"no seats for orders that did not complete ({held_with_seats} entries)", held_with_seats == 0),
    ]
    return result


def report(args, *, idle: dict, surge: dict, intake_seconds: float, final_seconds: float | None, clients, results: dict, loads: dict) -> dict:
    ordinary = results["ordinary"]
    ordinary_total = sum(ordinary.values())
    straight = ordinary["completed with no person"]
    anomalies_total = sum(sum(counter.values()) for counter in results["anomalies"].values())
    held_right = sum(counter["held with the right reason"] for counter in results["anomalies"].values())
    completed_share = straight / ordinary_total if ordinary_total else 0.0
    held_share = held_right / anomalies_total if anomalies_total else 1.0
    p99_ratio = surge["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] and surge["p99_ms"] else float("inf")
    checks_ok = all(ok for _label, ok in results["checks"]) and final_seconds is not None
    goals_met = completed_share >= COMPLETED_GOAL and held_share >= HELD_GOAL and p99_ratio <= P99_GOAL
    print()
    print(f"surge: {args.orders} orders from {args.customers} customers, seed {args.seed}, {args.anomalies:.0%} anomalies; "
          f"{args.clients} clients, gunicorn {args.web_workers}×{args.threads}, {args.workers} Celery workers")  # fmt: skip
    print(f"load average (1 min): {loads['start']:.2f} at the start, {loads['idle']:.2f} after the idle phase, "
          f"{loads['intake']:.2f} after the intake, max {loads['max']:.2f} while waiting, {loads['end']:.2f} at the end")  # fmt: skip
    print()
    print(f"{'intake':26}{'201/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'201s':>8}")
    for label, summary in (("idle (no worker running)", idle), ("surge (pipeline saturated)", surge)):
        print(f"{label:26}{summary['rate']:9.1f}{summary['p50_ms']:9.1f}{summary['p99_ms']:9.1f}{summary['created']:8d}")
    retries = sum(client.retries for client in clients)
    dropped = sum(client.dropped for client in clients)
    statuses = Counter(status for submission in (s for client in clients for s in client.stream) for status in submission.statuses)
    print(f"  surge intake took {intake_seconds:.1f} s; responses {dict(sorted(statuses.items()))} (0 = dropped or connection error); "
          f"{dropped} first responses dropped on purpose, {retries} retries with the same key")  # fmt: skip
    print(f"intake p99 surge/idle       {p99_ratio:6.2f}   goal <= {P99_GOAL:g}   {'met' if p99_ratio <= P99_GOAL else 'MISSED'}")
    print()
    print(f"ordinary orders completed with no person: {straight} / {ordinary_total} = {completed_share:.2%}   "
          f"goal >= {COMPLETED_GOAL:.0%}   {'met' if completed_share >= COMPLETED_GOAL else 'MISSED'}")  # fmt: skip
    print(f"  ordinary orders by outcome: {dict(ordinary)}")
    if results["ordinary_held_reasons"]:
        print(f"  ordinary orders held, by reasons: {dict(results['ordinary_held_reasons'])}")
    print(f"anomalies held with the right reason:     {held_right} / {anomalies_total} = {held_share:.2%}   "
          f"goal {HELD_GOAL:.0%}   {'met' if held_share >= HELD_GOAL else 'MISSED'}")  # fmt: skip
    for kind in ANOMALY_KINDS:
        print(f"  {kind:13} ({EXPECTED_REASON[kind]}): {dict(results['anomalies'][kind])}; reasons {dict(results['anomaly_reasons'][kind])}")
    if final_seconds is None:
        print(f"every order final: NOT within {args.timeout:.0f} s")
    else:
        print(f"every order final (completed or waiting for a person) {final_seconds:.1f} s after the surge began "
              f"({args.orders / final_seconds:.1f} orders/s end to end)")  # fmt: skip
    print()
    for label, ok in results["checks"]:
        print(f"check: {label}: {'ok' if ok else 'FAILED'}")
    return {
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "load_average": loads,
        "idle": idle,
        "surge": {**surge, "intake_seconds": intake_seconds, "retries": retries, "dropped_on_purpose": dropped, "statuses": dict(statuses)},
        "p99_ratio": p99_ratio,
        "ordinary": dict(ordinary),
        "ordinary_held_reasons": dict(results["ordinary_held_reasons"]),
        "completed_with_no_person_share": completed_share,
        "anomalies": {kind: dict(counter) for kind, counter in results["anomalies"].items()},
        "anomalies_held_right_share": held_share,
        "final_seconds": final_seconds,
        "checks": [(label, ok) for label, ok in results["checks"]],
        "checks_ok": checks_ok,
        "goals_met": goals_met,
    }


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderdesk-bench-surge-"))
    configure_environment(args, workdir)
    loads = {"start": os.getloadavg()[0]}
    print(f"Preparing {database_name(args.database_url)} (work files in {workdir}) …", flush=True)
    recreate_database(args.database_url)
    totals_of = prepare()
    plan = plan_surge(args, totals_of)
    tokens = create_customers(plan)
    demo_tokens = issue_demo_tokens()
    vacuum_analyze()
    kinds = Counter(submission.kind for submission in plan.submissions)
    print(f"Planned {len(plan.submissions)} orders: {dict(kinds)}; {sum(s.lose_first_response for s in plan.submissions)} first responses to drop", flush=True)

    port = free_port()
    server = start_gunicorn(dict(os.environ), port, args.web_workers, args.threads, workdir / "gunicorn.log")
    processes = []
    try:
        print(f"Idle phase: the intake bench's load for {args.idle_seconds:g} s, no worker running …", flush=True)
        Phase(kind="intake", port=port, tokens=demo_tokens, run_id="warmup", seconds=2, max_requests=100_000).run(args.clients)
        idle_phase = Phase(kind="intake", port=port, tokens=demo_tokens, run_id="idle", seconds=args.idle_seconds, max_requests=100_000)
        idle_result = idle_phase.run(args.clients)
        idle = latency_summary(idle_result.latencies, idle_result.elapsed)
        if set(idle_result.statuses) != {201}:
            print(f"  idle phase statuses: {dict(idle_result.statuses)}")
        print(f"  cancelled the idle phase's {forget_idle_orders()} orders", flush=True)
        loads["idle"] = os.getloadavg()[0]

        print(f"Starting {args.workers} Celery workers and beat …", flush=True)
        processes = start_celery(workdir, args.workers)
        print(f"Surge: {len(plan.submissions)} orders from {args.clients} clients …", flush=True)
        started = time.perf_counter()
        intake_seconds, clients = run_surge(port, tokens, plan)
        loads["intake"] = os.getloadavg()[0]
        created = [submission.latency for submission in plan.submissions if submission.latency is not None]
        surge = latency_summary(created, intake_seconds)
        print(f"  intake done in {intake_seconds:.1f} s ({surge['rate']:.1f} orders/s); waiting for every order to be final …", flush=True)
        waited_loads: list[float] = []
        final_seconds = wait_until_final(plan, started, args.timeout, waited_loads)
        loads["max"] = max(waited_loads, default=loads["intake"])
    finally:
        stop_all(processes)
        stop(server)
    loads["end"] = os.getloadavg()[0]
    results = report(
        args, idle=idle, surge=surge, intake_seconds=intake_seconds, final_seconds=final_seconds, clients=clients, results=outcomes(plan), loads=loads
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    if not results["checks_ok"]:
        return 1
    return 0 if results["goals_met"] else 2


if __name__ == "__main__":
    sys.exit(main())
