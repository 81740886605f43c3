"""Fault drills: orders submitted through the real API while a piece of the machinery fails, then the damage counted.

Run from the project root (needs initdb/pg_ctl of PostgreSQL and redis-server on PATH; nothing of
the machine's own PostgreSQL or Redis is touched):

    .venv/bin/python bench/faults.py                          # every drill, 150 orders per burst
    .venv/bin/python bench/faults.py --orders 60 --drills redis-restart,postgres-1s
    .venv/bin/python bench/faults.py --json faults.json

What one run does, all on loopback:

1. Starts a PostgreSQL cluster of its own (initdb into a temporary directory, as the
   `postgres` user when run as root, on a free port) and a redis-server of its own
   (free port, no persistence), migrates, loads seed_demo and creates 20 customers
   (FAULT-01…) with API tokens and a credit limit no burst reaches.
2. Starts gunicorn (gunicorn.conf.py: 2 workers × 4 threads), two Celery workers
   (pipeline and documents queues, concurrency 1) and Celery beat, with the sweeper
   every 5 s re-enqueueing orders unmoved for 20 s (ORDER_STUCK_AFTER_SECONDS=20;
   production: 600 s) and provisioning slowed by 50 ms per order
   (ORDERDESK_TEST_PROVISION_DELAY_MS) so that a kill lands mid-provisioning.
3. For each drill: a burst of --orders orders from --clients client threads (one
   order each, SRA-1Y in a quantity the customer never repeats, so no rule holds
   it), each with its Idempotency-Key; a client retries with the same key and body
   on a connection error, a 5xx, a 429 or a 409 in flight (after Retry-After),
   for up to --give-up seconds. The fault strikes once a third of the burst is
   answered (at most 5 s in):

   worker-kill         SIGKILL both Celery workers (processes and pool) while orders are
                       provisioning; restarted 2 s later
   redis-restart       SIGKILL redis-server; restarted empty on the same port 2 s later
   postgres-1s/-20s/-30s  `pg_ctl stop -m immediate`, started again after 1, 20, 30 s
   gunicorn-kill       SIGKILL every gunicorn worker (the master starts new ones)
                       while requests are in flight

4. Waits until every order of the burst is final (completed, or waiting for a
   person) or --settle seconds pass, and counts: 201s (submissions answered 201),
   lost (201'd and not in the database), doubled (a PO number stored twice, seats
   provisioned twice for a line, a quote PDF stored twice), stuck (not final after
   the wait) and the longest client-visible outage (the longest any one order
   waited from its first failed attempt to its 201).

Prints a table and the load average; exit status 1 when anything was lost, doubled or stuck.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DRILLS = ["worker-kill", "redis-restart", "postgres-1s", "postgres-20s", "postgres-30s", "gunicorn-kill"]
FINAL = {"completed", "needs_review", "rejected", "cancelled"}
CUSTOMERS = 20


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=150, help="orders per burst (150)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (8)")
    parser.add_argument("--drills", default=",".join(DRILLS), help="comma-separated, of: " + ", ".join(DRILLS))
    parser.add_argument("--settle", type=float, default=240, help="most seconds to wait for a burst's orders to be final")
    parser.add_argument("--give-up", type=float, default=120, help="seconds a client retries one order")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="leave the temporary directory (logs, data)")
    args = parser.parse_args()
    unknown = set(args.drills.split(",")) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drills: {', '.join(sorted(unknown))}")
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


# --- the private services ------------------------------------------------------------------------------


class PrivatePostgres:
    def __init__(self, workdir: Path):
        self.data = workdir / "pg"
        self.log = workdir / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
        subprocess.run(as_postgres(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} -c max_connections=200"
        subprocess.run(as_postgres(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"]),
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    def stop_immediately(self) -> None:
        subprocess.run(as_postgres(["pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"]), check=True, stdout=subprocess.DEVNULL)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


class PrivateRedis:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.process = None
        self.start()

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


# --- the application's processes ------------------------------------------------------------------------


class Machinery:
    def __init__(self, workdir: Path, env: dict):
        self.workdir, self.env = workdir, env
        self.port = free_port()
        self.gunicorn = self._spawn("gunicorn", [str(BIN / "gunicorn"), "orderdesk.wsgi", "--bind", f"127.0.0.1:{self.port}"])
        self.workers = [self._worker(index) for index in range(2)]
        self.beat = self._spawn("beat", [str(BIN / "celery"), "-A", "orderdesk", "beat", "--schedule",
                                         str(workdir / "beat-schedule"), "--loglevel", "WARNING"])  # fmt: skip
        self._wait_for_web()

    def _spawn(self, name: str, command: list[str], *, new_group: bool = False) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_group)

    def _worker(self, index: int) -> subprocess.Popen:
        command = [
            str(BIN / "celery"), "-A", "orderdesk", "worker", "--pool", "prefork", "--concurrency", "1",
            "--queues", "pipeline,documents", "--hostname", f"faults-{index}-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        return self._spawn(f"worker-{index}", command, new_group=True)

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer")

    def kill_workers(self) -> None:
        for worker in self.workers:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool process
            worker.wait()

    def restart_workers(self) -> None:
        self.workers = [self._worker(index) for index in range(2)]

    def kill_web_workers(self) -> int:
        children = subprocess.run(["pgrep", "-P", str(self.gunicorn.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        return len(children)

    def stop(self) -> None:
        processes = [self.gunicorn, self.beat, *self.workers]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# --- clients ---------------------------------------------------------------------------------------------


class Submission:
    def __init__(self, customer: str, po_number: str, quantity: int):
        self.customer, self.po_number, self.quantity = customer, po_number, quantity
        self.key = uuid.uuid4().hex
        self.statuses: list[int] = []
        self.numbers: set[str] = set()
        self.first_failure: float | None = None
        self.outage = 0.0

    def body(self) -> str:
        return json.dumps({"po_number": self.po_number, "lines": [{"sku": "SRA-1Y", "quantity": self.quantity}]})


def submit_all(port: int, tokens: dict, submissions: list[Submission], clients: int, give_up: float) -> None:
    pending = list(submissions)
    lock = threading.Lock()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if not pending:
                    break
                submission = pending.pop(0)
            connection = send(connection, port, tokens, submission, give_up)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def send(connection, port, tokens, submission: Submission, give_up: float):
    headers = {
        "Authorization": f"Token {tokens[submission.customer]}",
        "Content-Type": "application/json",
        "Idempotency-Key": submission.key,
    }
    started = time.monotonic()
    while time.monotonic() - started < give_up:
        retry_after = 0.2
        try:
            connection.request("POST", "/api/v1/orders/", body=submission.body(), headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status = response.status
            retry_after = float(response.getheader("Retry-After") or retry_after)
            answer = json.loads(raw) if raw else {}
        except (OSError, http.client.HTTPException, ValueError):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, answer = 0, {}
        submission.statuses.append(status)
        now = time.monotonic()
        if status == 201:
            submission.numbers.add(answer.get("number"))
            if submission.first_failure is not None:
                submission.outage = now - submission.first_failure
            return connection
        if submission.first_failure is None:
            submission.first_failure = now
        in_flight = status == 409 and answer.get("type") == "idempotency-key-in-flight"
        if status not in (0, 429, 500, 502, 503, 504) and not in_flight:
            return connection  # refused for good: counted as not 201
        time.sleep(min(retry_after, 2.0))
    return connection


# --- the drills ------------------------------------------------------------------------------------------


def run_drill(name, args, machinery, postgres, redis, tokens, quantities) -> dict:
    submissions = []
    for index in range(args.orders):
        customer = f"FAULT-{index % CUSTOMERS + 1:02d}"
        quantities[customer] += 1
        submissions.append(Submission(customer, f"{name}-{index:04d}-{uuid.uuid4().hex[:6]}", quantities[customer]))
    burst = threading.Thread(target=submit_all, args=(machinery.port, tokens, submissions, args.clients, args.give_up))
    started = time.monotonic()
    burst.start()
    # The fault strikes once a third of the burst is answered (or after 5 s), while requests are in flight.
    deadline = time.monotonic() + 5
    while sum(1 for s in submissions if s.statuses) < args.orders // 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    note = strike(name, machinery, postgres, redis)
    burst.join()
    intake_seconds = time.monotonic() - started
    figures = settle(submissions, args.settle)
    return {"drill": name, "fault": note, "orders": args.orders, "intake_seconds": round(intake_seconds, 1), **figures}


def strike(name, machinery, postgres, redis) -> str:
    if name == "worker-kill":
        waited = wait_for_provisioning(timeout=20)
        machinery.kill_workers()
        time.sleep(2)
        machinery.restart_workers()
        return f"both workers SIGKILLed {'while orders were provisioning' if waited else '(no order seen provisioning)'}; restarted after 2 s"
    if name == "redis-restart":
        redis.kill()
        time.sleep(2)
        redis.start()
        return "redis-server SIGKILLed, restarted empty after 2 s"
    if name.startswith("postgres-"):
        seconds = int(name.split("-")[1].rstrip("s"))
        postgres.stop_immediately()
        time.sleep(seconds)
        postgres.start()
        return f"PostgreSQL stopped (immediate) for {seconds} s"
    if name == "gunicorn-kill":
        killed = machinery.kill_web_workers()
        return f"{killed} gunicorn workers SIGKILLed mid-request"
    raise ValueError(name)


def wait_for_provisioning(timeout: float) -> bool:
    from django.db import close_old_connections

    from orders.models import Order

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        if Order.objects.filter(status=Order.Status.PROVISIONING).exists():
            return True
        time.sleep(0.05)
    return False


def settle(submissions: list[Submission], timeout: float) -> dict:
    from django.db import close_old_connections
    from django.db.models import Count

    from licensing.models import SeatLedgerEntry
    from orders.models import Order, OrderLine

    po_numbers = [submission.po_number for submission in submissions]
    deadline = time.monotonic() + timeout
    settled_after = None
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            close_old_connections()
            statuses = dict(Order.objects.filter(po_number__in=po_numbers).values_list("po_number", "status"))
        except Exception:  # noqa: BLE001 — the database may still be coming back
            time.sleep(1)
            continue
        accepted = [s.po_number for s in submissions if 201 in s.statuses]
        if all(statuses.get(po) in FINAL for po in accepted):
            settled_after = time.monotonic() - started
            break
        time.sleep(1)
    close_old_connections()
    orders = Order.objects.filter(po_number__in=po_numbers)
    stored = dict(orders.values("po_number").annotate(n=Count("id")).values_list("po_number", "n"))
    statuses = dict(orders.values_list("po_number", "status"))
    accepted = [s for s in submissions if 201 in s.statuses]
    lines = OrderLine.objects.filter(order__in=orders)
    ledger = dict(
        SeatLedgerEntry.objects.filter(reference__in=[f"order-line:{line.pk}" for line in lines])
        .values("reference").annotate(n=Count("id")).values_list("reference", "n")
    )
    documents = orders.annotate(pdfs=Count("documents")).values_list("pdfs", flat=True)
    return {
        "201s": len(accepted),
        "not_201": len(submissions) - len(accepted),
        "lost": sum(1 for s in accepted if stored.get(s.po_number, 0) == 0),
        "doubled_orders": sum(1 for n in stored.values() if n > 1) + sum(1 for s in accepted if len(s.numbers) > 1),
        "doubled_seats": sum(1 for n in ledger.values() if n > 1),
        "doubled_pdfs": sum(1 for n in documents if n > 1),
        "completed": sum(1 for status in statuses.values() if status == "completed"),
        "waiting_for_a_person": sum(1 for status in statuses.values() if status == "needs_review"),
        "stuck": sum(1 for s in accepted if statuses.get(s.po_number) not in FINAL),
        "settled_seconds": None if settled_after is None else round(settled_after, 1),
        "retried_orders": sum(1 for s in submissions if len(s.statuses) > 1),
        "longest_outage_seconds": round(max((s.outage for s in submissions), default=0.0), 1),
    }


# --- set-up and report -----------------------------------------------------------------------------------


def prepare(env: dict) -> dict:
    for command in (["migrate", "-v", "0"], ["seed_demo"]):
        subprocess.run([str(BIN / "python"), "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from licensing.models import ApiToken, Customer

    tokens = {}
    for number in range(1, CUSTOMERS + 1):
        code = f"FAULT-{number:02d}"
        customer, _ = Customer.objects.get_or_create(code=code, defaults={"name": f"障害訓練 {number}", "credit_limit": 10**13})
        _token, tokens[code] = ApiToken.objects.issue(customer=customer)
    return tokens


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderdesk-faults-"))
    os.chmod(workdir, 0o755)
    postgres = PrivatePostgres(workdir)
    redis = PrivateRedis(workdir)
    machinery = None
    try:
        subprocess.run(as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "orderdesk_faults"]), check=True)
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url("orderdesk_faults"),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{redis.port}/1",
            "ORDERDESK_LOCAL": "1",
            "ORDERDESK_VAR_DIR": str(workdir / "var"),
            "METRICS_DIR": str(workdir / "metrics"),
            "API_RATE_LIMIT": "1000000/min",
            "ORDER_STUCK_AFTER_SECONDS": "20",
            "ORDER_SWEEP_INTERVAL_SECONDS": "5",
            "ORDERDESK_TEST_PROVISION_DELAY_MS": "50",
        }
        tokens = prepare(env)
        machinery = Machinery(workdir, env)
        quantities = {code: 0 for code in tokens}
        results = []
        for name in args.drills.split(","):
            load = os.getloadavg()[0]
            result = run_drill(name, args, machinery, postgres, redis, tokens, quantities)
            result["load_average"] = round(load, 1)
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
        print_table(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2))
        bad = any(r["lost"] or r["doubled_orders"] or r["doubled_seats"] or r["doubled_pdfs"] or r["stuck"] for r in results)
        return 1 if bad else 0
    finally:
        if machinery is not None:
            machinery.stop()
        redis.kill()
        try:
            subprocess.run(as_postgres(["pg_ctl", "-D", str(postgres.data), "-m", "fast", "stop"]), stdout=subprocess.DEVNULL)
        finally:
            if args.keep:
                print(f"logs and data in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def print_table(results: list[dict]) -> None:
    print("\n| drill | load | 201s / orders | lost | doubled (orders, seats, PDFs) | stuck | longest outage s | all final after s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['drill']} | {r['load_average']} | {r['201s']} / {r['orders']} | {r['lost']} | "
            f"{r['doubled_orders']}, {r['doubled_seats']}, {r['doubled_pdfs']} | {r['stuck']} | "
            f"{r['longest_outage_seconds']} | {r['settled_seconds']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
