"""Order intake under load, against the ceiling of the same server.

Run from the project root (PostgreSQL and Redis must be up):

    .venv/bin/python bench/intake.py
    .venv/bin/python bench/intake.py --seconds 10 --rounds 3 --concurrency 8 --workers 2 --threads 4

What it does, all on this machine's loopback:

1. Recreates a PostgreSQL database whose name contains "bench" (it refuses any
   other name: the database is dropped), migrates it, loads seed_demo, issues
   one API token for DEMO1 and one for DEMO2 with manage.py issue_token, and
   creates the table bench_ceiling_row.
2. Starts gunicorn on 127.0.0.1 and a free port, with ORDERDESK_BENCH_CEILING=1
   (which mounts bench/ceiling_view.py at /bench/ceiling/), the Celery broker
   and the throttling cache on Redis, and API_RATE_LIMIT far above the load.
3. Alternates, for --rounds rounds, two phases bounded by --seconds and
   --max-requests: "intake" POSTs 2-line orders to /api/v1/orders/ (each with
   its own Idempotency-Key and PO number, token auth) and "ceiling" POSTs the
   same body to the bench view that inserts one row with raw SQL.
4. Prints requests per second, p50 and p99 latency of both, and the ratios
   intake/ceiling; checks that every response was 201 and that the database
   holds exactly as many orders (and ceiling rows) as there were 201s.

Exit status: 0 all good, 1 a correctness check failed (a non-201, or counts
that disagree), 2 correct but the goals (rate ratio >= 0.35, p99 ratio < 4)
were missed. The machine is shared and noisy: read the ratios, not the
absolute rates, and run it several times.
"""

import argparse
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from kombu import Connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INTAKE_PATH = "/api/v1/orders/"
CEILING_PATH = "/bench/ceiling/"
TOKEN_CUSTOMERS = ("DEMO1", "DEMO2")
RATE_GOAL = 0.35
P99_GOAL = 4.0


# --- command line -------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Order intake rate and latency against a raw-SQL ceiling.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderdesk_bench"),
        help="PostgreSQL database to RECREATE; its name must contain 'bench' (default: $DATABASE_URL)",
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/7", help="Celery broker the orders are published to")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/8", help="Django cache shared by the workers (throttling)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--max-requests", type=int, default=20_000, help="most requests in one phase")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/intake phase pairs, alternating which goes first")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="unmeasured load on both paths first")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads, each with its own connection")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (gunicorn.conf.py: 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker; 1 for sync workers (gunicorn.conf.py: 4)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    for name in ("seconds", "max_requests", "rounds", "concurrency", "workers", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if "bench" not in database_name(args.database_url):
        parser.error(f"refusing to recreate {database_name(args.database_url)!r}: use a database whose name contains 'bench'")
    if urlsplit(args.database_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--database-url must point at this machine (127.0.0.1)")
    return args


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


# --- preparing the database ------------------------------------------------------------


def admin_url(url: str) -> str:
    """The same server's maintenance database."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def recreate_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *arguments: str) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(arguments)} failed:\n{result.stderr}")
    return result.stdout


def prepare_database(env: dict, url: str) -> list[str]:
    """A fresh database with the demo catalog, the ceiling table and one token per customer."""
    recreate_database(url)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo")
    tokens = [manage(env, "issue_token", code, "--name", "bench/intake.py").strip().splitlines()[-1] for code in TOKEN_CUSTOMERS]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_ceiling_row (id bigserial PRIMARY KEY, body text NOT NULL)")
    return tokens


def count_rows(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
        ceiling = conn.execute("SELECT count(*) FROM bench_ceiling_row").fetchone()[0]
    return orders, ceiling


def purge_pipeline_queue(broker_url: str) -> int:
    """Drop the gather messages the run's new orders published (no worker consumes them here)."""
    with Connection(broker_url, connect_timeout=2) as conn:
        return conn.default_channel.queue_purge("pipeline") or 0


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    command = [
        str(BIN / "gunicorn"),
        "orderdesk.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--error-logfile", str(log),
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}; see {log}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    sys.exit(f"gunicorn did not answer /healthz within 30 s; see {log}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- CPU per request, read from /proc -------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used; 0 for one that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_backends(url: str) -> list[int]:
    """The server processes serving the bench database (its own connections, not other users')."""
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database_name(url)]).fetchall()
    return [pid for (pid,) in rows]


@dataclass
class CpuMeter:
    """CPU of the gunicorn workers and of the bench database's PostgreSQL backends over a phase."""

    server: subprocess.Popen
    database_url: str

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {
            "web": {pid: cpu_seconds(pid) for pid in children(self.server.pid)},
            "postgres": {pid: cpu_seconds(pid) for pid in postgres_backends(self.database_url)},
        }

    @staticmethod
    def used(before: dict, after: dict) -> dict[str, float]:
        # A process that exited during the phase took its CPU with it: the bench keeps the
        # database connections (DATABASE_CONN_MAX_AGE) and the workers alive for the whole run.
        return {kind: sum(seconds - before[kind].get(pid, 0.0) for pid, seconds in after[kind].items()) for kind in before}


# --- the load generator -------------------------------------------------------------------


@dataclass
class PhaseResult:
    kind: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of 201 responses
    statuses: Counter = field(default_factory=Counter)  # status code (0 = connection error) → count
    cpu: dict = field(default_factory=dict)  # "web", "postgres" → CPU seconds used during the phase

    @property
    def created(self) -> int:
        return self.statuses[201]


class Sender(threading.Thread):
    """One client: its own keep-alive connection, requests until the phase ends."""

    def __init__(self, phase: "Phase", token: str, number: int):
        super().__init__(daemon=True)
        self.phase = phase
        self.token = token
        self.number = number
        self.latencies: list[float] = []
        self.statuses: Counter = Counter()

    def run(self) -> None:
        conn = self.phase.connect()
        sequence = 0
        while self.phase.take_ticket():
            sequence += 1
            body, headers = self.phase.request(self.token, f"{self.number}-{sequence}")
            started = time.perf_counter()
            try:
                conn.request("POST", self.phase.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self.phase.connect()
                status = 0
            self.statuses[status] += 1
            if status == 201:
                self.latencies.append(time.perf_counter() - started)
        conn.close()


class Phase:
    """A burst of POSTs to one path, bounded in time and in count."""

    def __init__(self, *, kind: str, port: int, tokens: list[str], run_id: str, seconds: float, max_requests: int):
        self.kind = kind
        self.path = INTAKE_PATH if kind == "intake" else CEILING_PATH
        self.port = port
        self.tokens = tokens
        self.run_id = run_id
        self.seconds = seconds
        self.max_requests = max_requests
        self._issued = 0
        self._lock = threading.Lock()
        self._deadline = 0.0

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def take_ticket(self) -> bool:
        with self._lock:
            if self._issued >= self.max_requests or time.monotonic() >= self._deadline:
                return False
            self._issued += 1
            return True

    def request(self, token: str, suffix: str) -> tuple[bytes, dict]:
        """The same 2-line order to both paths; the PO number and key are new every time."""
        order = {
            "po_number": f"PO-{self.run_id}-{self.kind}-{suffix}",
            "lines": [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 50}],
            "notes": "bench/intake.py",
        }
        headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        return json.dumps(order).encode(), headers

    def run(self, concurrency: int) -> PhaseResult:
        senders = [Sender(self, self.tokens[i % len(self.tokens)], i) for i in range(concurrency)]
        started = time.perf_counter()
        self._deadline = time.monotonic() + self.seconds
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        result = PhaseResult(kind=self.kind, elapsed=time.perf_counter() - started)
        for sender in senders:
            result.latencies.extend(sender.latencies)
            result.statuses.update(sender.statuses)
        return result


# --- measuring and reporting -----------------------------------------------------------------


@dataclass
class Summary:
    kind: str
    requests: int
    created: int
    other_statuses: dict
    rate: float
    p50_ms: float
    p99_ms: float
    web_cpu_ms: float  # per 201
    postgres_cpu_ms: float  # per 201


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(kind: str, phases: list[PhaseResult]) -> Summary:
    latencies = [latency for phase in phases for latency in phase.latencies]
    statuses = sum((phase.statuses for phase in phases), Counter())
    elapsed = sum(phase.elapsed for phase in phases)
    created = statuses[201]
    if not latencies:
        sys.exit(f"no {kind} request got a 201: {dict(statuses)}")
    return Summary(
        kind=kind,
        requests=sum(statuses.values()),
        created=created,
        other_statuses={str(code): count for code, count in statuses.items() if code != 201},
        rate=created / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        web_cpu_ms=sum(phase.cpu.get("web", 0.0) for phase in phases) / created * 1000,
        postgres_cpu_ms=sum(phase.cpu.get("postgres", 0.0) for phase in phases) / created * 1000,
    )


def measure(args, port: int, tokens: list[str], run_id: str, meter: CpuMeter) -> tuple[dict, dict]:
    """Warm up both paths, then alternate measured phases. Returns (measured, all) phase lists by kind."""
    measured = {"intake": [], "ceiling": []}
    every = {"intake": [], "ceiling": []}

    def phase(kind: str, seconds: float, label: str) -> PhaseResult:
        before = meter.snapshot()
        result = Phase(
            kind=kind, port=port, tokens=tokens, run_id=f"{run_id}{label}", seconds=seconds, max_requests=args.max_requests
        ).run(args.concurrency)
        result.cpu = CpuMeter.used(before, meter.snapshot())
        every[kind].append(result)
        print(f"  {label:>8} {kind:<8} {result.created / result.elapsed:8.1f}/s  {dict(result.statuses)}", flush=True)
        return result

    for kind in ("ceiling", "intake"):
        phase(kind, args.warmup_seconds, "warmup")
    for round_number in range(args.rounds):
        order = ("ceiling", "intake") if round_number % 2 == 0 else ("intake", "ceiling")
        for kind in order:
            measured[kind].append(phase(kind, args.seconds, f"round{round_number + 1}"))
    return measured, every


def report(args, intake: Summary, ceiling: Summary, checks: list[tuple[str, bool]]) -> dict:
    rate_ratio = intake.rate / ceiling.rate
    p99_ratio = intake.p99_ms / ceiling.p99_ms
    print()
    print(f"{'':10}{'201/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'201s':>9}{'web CPU/201':>13}{'PG CPU/201':>12}  other statuses")
    for summary in (ceiling, intake):
        print(
            f"{summary.kind:10}{summary.rate:10.1f}{summary.p50_ms:10.1f}{summary.p99_ms:10.1f}"
            f"{summary.created:9d}{summary.web_cpu_ms:10.2f} ms{summary.postgres_cpu_ms:9.2f} ms  {summary.other_statuses or '-'}"
        )
    print()
    print(f"intake/ceiling rate  {rate_ratio:.3f}   goal >= {RATE_GOAL}  {'met' if rate_ratio >= RATE_GOAL else 'MISSED'}")
    print(f"intake/ceiling p99   {p99_ratio:.2f}    goal <  {P99_GOAL}    {'met' if p99_ratio < P99_GOAL else 'MISSED'}")
    for label, ok in checks:
        print(f"check: {label}: {'ok' if ok else 'FAILED'}")
    return {
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "threads": args.threads,
        },
        "ceiling": ceiling.__dict__,
        "intake": intake.__dict__,
        "rate_ratio": rate_ratio,
        "p99_ratio": p99_ratio,
        "goals_met": rate_ratio >= RATE_GOAL and p99_ratio < P99_GOAL,
        "checks_ok": all(ok for _label, ok in checks),
    }


def non_201(phases: list[PhaseResult]) -> dict:
    statuses = sum((phase.statuses for phase in phases), Counter())
    return {str(code): count for code, count in statuses.items() if code != 201}


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderdesk-bench-intake-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orderdesk.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "CACHE_URL": args.cache_url,
        "API_RATE_LIMIT": "10000000/min",
        "ORDERDESK_BENCH_CEILING": "1",
        "ORDERDESK_VAR_DIR": str(workdir / "var"),
        "DEBUG": "0",
        "ORDERDESK_LOCAL": "1",  # gunicorn on loopback, plain HTTP
        "DATABASE_CONN_MAX_AGE": "3600",  # one PostgreSQL backend per web thread for the whole run: its CPU is measured
        "LOG_LEVEL": "WARNING",
    }
    print(f"Preparing {database_name(args.database_url)} …", flush=True)
    tokens = prepare_database(env, args.database_url)
    purge_pipeline_queue(args.broker_url)
    port = free_port()
    log = workdir / "gunicorn.log"
    print(f"Starting gunicorn on 127.0.0.1:{port}: {args.workers} workers × {args.threads} threads (log {log}) …", flush=True)
    server = start_gunicorn(env, port, args.workers, args.threads, log)
    try:
        print(f"Load: {args.concurrency} client threads, phases of {args.seconds:g} s or {args.max_requests} requests")
        measured, every = measure(args, port, tokens, run_id=uuid.uuid4().hex[:8], meter=CpuMeter(server, args.database_url))
    finally:
        stop(server)
    published = purge_pipeline_queue(args.broker_url)
    orders, ceiling_rows = count_rows(args.database_url)
    intake_201s = sum(result.created for result in every["intake"])
    ceiling_201s = sum(result.created for result in every["ceiling"])
    intake, ceiling = summarise("intake", measured["intake"]), summarise("ceiling", measured["ceiling"])
    checks = [
        *(
            (f"every {kind} response, warm-up included, was 201 (non-201: {non_201(every[kind]) or 'none'})", not non_201(every[kind]))
            for kind in ("intake", "ceiling")
        ),
        (f"orders in the database {orders} = intake 201s {intake_201s}", orders == intake_201s),
        (f"ceiling rows {ceiling_rows} = ceiling 201s {ceiling_201s}", ceiling_rows == ceiling_201s),
    ]
    print(f"(orders published to the broker and purged after the run: {published})")
    results = report(args, intake, ceiling, checks)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not results["checks_ok"]:
        return 1
    return 0 if results["goals_met"] else 2


if __name__ == "__main__":
    sys.exit(main())
