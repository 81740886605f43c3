"""Key-only license validation (a device, no token) under load, against a minimal Django JSON view.

Run from the project root (PostgreSQL and Redis must be up):

    .venv/bin/python bench/validate.py
    .venv/bin/python bench/validate.py --seconds 5 --rounds 1     # a quick look

What it does, all on this machine's loopback:

1. Recreates a PostgreSQL database whose name contains "bench" (it
   refuses any other name: the database is dropped), migrates it, loads
   seed_demo, and makes two customers with a work-hours policy and --keys
   license keys each: BENCH-IN, whose hours (every day, Japanese holidays,
   two closed periods elsewhere in the year) contain the whole run, and
   BENCH-OUT, whose hours (warn mode) start three hours from now.
2. Starts two gunicorns (2 gthread workers × 4 threads, as gunicorn.conf.py)
   with the cache and broker on Redis and the device rate limits far above the
   load (still counted: one cache round trip per validation): "A" as deployed,
   with ORDERDESK_BENCH_CEILING=1 (which mounts bench/ceiling_view.json_minimal
   at /bench/json/), and "B" with ORDERDESK_BENCH_SKIP_WORK_HOURS_RECORD=1,
   the same server without the work-hours record.
3. Alternates measured phases, each --seconds long, from --concurrency client
   threads with keep-alive connections, each POST carrying {"key": ...} and no
   Authorization header (the keys taken in turn):
     json            A: the minimal JSON view (the baseline)
     valid           A: BENCH-IN's keys → VALID, the day counter goes up
     outside         A: BENCH-OUT's keys → OUTSIDE_WORKING_HOURS (warn), a row is recorded
     outside-bare    B: the same without the record
     valid-bare      B: BENCH-IN's keys without the counter
4. Prints answers per second, p50 and p99 latency, and the ratios; checks
   that every answer was 200 with the expected code and that the database
   holds one record row per "outside" answer and day counts that add up to
   the "valid" answers (and nothing from B).

Goals: valid / json >= 0.5, and the outside-hours record adding under 10 %
to the validation's cost (outside-bare / outside - 1 < 0.10, as time per
answer). Exit status: 0 goals met, 1 a check failed, 2 a goal was missed.
"""

import argparse
import http.client
import json
import os
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

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import database_name, free_port, manage, percentile, recreate_database, start_gunicorn, stop  # noqa: E402

VALIDATE_PATH = "/api/v1/licenses/validate/"
JSON_PATH = "/bench/json/"
RATE_GOAL = 0.5
RECORD_COST_GOAL = 0.10
PHASES = {
    # kind: (server, path, keys, expected code)
    "json": ("A", JSON_PATH, "in", "VALID"),
    "valid": ("A", VALIDATE_PATH, "in", "VALID"),
    "outside": ("A", VALIDATE_PATH, "out", "OUTSIDE_WORKING_HOURS"),
    "outside-bare": ("B", VALIDATE_PATH, "out", "OUTSIDE_WORKING_HOURS"),
    "valid-bare": ("B", VALIDATE_PATH, "in", "VALID"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Key-only validations per second against a minimal Django JSON view.")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/orderdesk_bench_validate",
        help="PostgreSQL database to RECREATE; its name must contain 'bench'",
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/8", help="the rate limits' counters")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all five phases, in turn")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads, each with its own connection")
    parser.add_argument("--keys", type=int, default=200, help="license keys per customer")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if "bench" not in database_name(args.database_url):
        parser.error(f"refusing to recreate {database_name(args.database_url)!r}: its name must contain 'bench'")
    if urlsplit(args.database_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--database-url must point at this machine (127.0.0.1)")
    return args


# --- the data -----------------------------------------------------------------------------


def seed_customers(keys_per_customer: int) -> None:
    """Run inside Django (manage.py shell): the two customers, their policies and keys; prints the keys as JSON."""
    from datetime import date, timedelta

    from django.utils import timezone

    from licensing.calendars import is_public_holiday
    from licensing.models import JAPAN, ClosedPeriod, Customer, Product, WorkHoursPolicy
    from licensing.services import CustomerSeats, SeatsRequest, seats_provision_batch

    now = timezone.now().astimezone(JAPAN)
    product = Product.objects.get(sku="SRA-1Y")
    keys = {}
    for code, starts_in, hours, mode in (("BENCH-IN", -3, 6, "warn"), ("BENCH-OUT", 3, 1, "warn")):
        customer, _ = Customer.objects.get_or_create(code=code, defaults={"name": f"ベンチ {code}"})
        start, end = now + timedelta(hours=starts_in), now + timedelta(hours=starts_in + hours)
        WorkHoursPolicy.objects.update_or_create(
            customer=customer,
            defaults={
                "mode": mode,
                "time_zone": "Asia/Tokyo",
                "working_days": [1, 2, 3, 4, 5, 6, 7],
                "start_time": start.time().replace(second=0, microsecond=0),
                "end_time": end.time().replace(second=0, microsecond=0),
                "public_holidays": "" if is_public_holiday("JP", now.date()) else "JP",
            },
        )
        for name, first, last in (("創立記念日", date(now.year - 1, 6, 1), date(now.year - 1, 6, 1)), ("棚卸", date(now.year - 1, 3, 30), date(now.year - 1, 3, 31))):
            ClosedPeriod.objects.get_or_create(customer=customer, name=name, first_day=first, last_day=last, every_year=False)
        # One line per key (a key is issued per provisioned line), 50 seats each.
        lines = [SeatsRequest(product=product, quantity=50, reference=f"bench:{code}:{number}") for number in range(keys_per_customer)]
        provisioned = seats_provision_batch([CustomerSeats(customer=customer, requests=lines, term_start=now.date())])[0]
        keys[code] = [line.license_key.key for line in provisioned]
    print(json.dumps({"in": keys["BENCH-IN"], "out": keys["BENCH-OUT"]}))


def prepare_database(env: dict, url: str, keys_per_customer: int) -> dict[str, list[str]]:
    recreate_database(url)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo")
    output = manage(env, "shell", "-c", f"from bench.validate import seed_customers; seed_customers({keys_per_customer})")
    return json.loads(output.strip().splitlines()[-1])


def record_in_database(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM licensing_outsidehoursvalidation").fetchone()[0]
        counted = conn.execute("SELECT coalesce(sum(allowed), 0) FROM licensing_validationdaycount").fetchone()[0]
    return rows, counted


# --- the load -------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    kind: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of expected answers
    outcomes: Counter = field(default_factory=Counter)  # "ok", or the status and what came back

    @property
    def answered(self) -> int:
        return self.outcomes["ok"]


def run_phase(kind: str, port: int, keys: list[str], seconds: float, concurrency: int) -> PhaseResult:
    _server, path, _keys, expected = PHASES[kind]
    expected_bytes = f'"code":"{expected}"'.encode()
    deadline = time.monotonic() + seconds
    results = [PhaseResult(kind) for _ in range(concurrency)]

    def client(number: int) -> None:
        result = results[number]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sequence = number
        while time.monotonic() < deadline:
            body = json.dumps({"key": keys[sequence % len(keys)]}).encode()
            sequence += concurrency
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                content = response.read()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                result.outcomes[f"error {type(error).__name__}"] += 1
                continue
            if response.status == 200 and expected_bytes in content.replace(b" ", b""):
                result.outcomes["ok"] += 1
                result.latencies.append(time.perf_counter() - started)
            else:
                result.outcomes[f"{response.status} {content[:80]!r}"] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = PhaseResult(kind, elapsed=time.perf_counter() - started)
    for result in results:
        merged.latencies.extend(result.latencies)
        merged.outcomes.update(result.outcomes)
    return merged


@dataclass
class Summary:
    kind: str
    answered: int
    rate: float
    p50_ms: float
    p99_ms: float


def summarise(kind: str, phases: list[PhaseResult]) -> Summary:
    latencies = [latency for phase in phases for latency in phase.latencies]
    answered = sum(phase.answered for phase in phases)
    if not latencies:
        sys.exit(f"no {kind} request was answered as expected: {sum((p.outcomes for p in phases), Counter())}")
    return Summary(
        kind=kind,
        answered=answered,
        rate=answered / sum(phase.elapsed for phase in phases),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderdesk-bench-validate-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orderdesk.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "CACHE_URL": args.cache_url,
        "LICENSE_VALIDATE_KEY_RATE_LIMIT": "100000000/min",
        "LICENSE_VALIDATE_ADDRESS_RATE_LIMIT": "100000000/min",
        "ORDERDESK_BENCH_CEILING": "1",
        "ORDERDESK_LOCAL": "1",  # gunicorn on loopback, plain HTTP
        "ORDERDESK_VAR_DIR": str(workdir / "var"),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }
    load_before = os.getloadavg()
    print(f"Preparing {database_name(args.database_url)} (load average {load_before[0]:.2f}) …", flush=True)
    keys = prepare_database(env, args.database_url, args.keys)
    subprocess.run(["redis-cli", "-u", args.cache_url, "FLUSHDB"], check=False, capture_output=True)
    ports = {"A": free_port(), "B": free_port()}
    servers = {
        "A": start_gunicorn(env, ports["A"], args.workers, args.threads, workdir / "gunicorn-a.log"),
        "B": start_gunicorn(
            {**env, "ORDERDESK_BENCH_SKIP_WORK_HOURS_RECORD": "1"}, ports["B"], args.workers, args.threads, workdir / "gunicorn-b.log"
        ),
    }
    measured: dict[str, list[PhaseResult]] = {kind: [] for kind in PHASES}
    every: dict[str, list[PhaseResult]] = {kind: [] for kind in PHASES}
    try:
        print(f"Load: {args.concurrency} client threads, phases of {args.seconds:g} s; {args.keys} keys per customer")
        kinds = list(PHASES)
        for label, seconds, order in [("warmup", args.warmup_seconds, kinds)] + [
            (f"round{number + 1}", args.seconds, kinds[number % len(kinds):] + kinds[: number % len(kinds)])
            for number in range(args.rounds)
        ]:
            for kind in order:
                server, _path, key_set, _code = PHASES[kind]
                result = run_phase(kind, ports[server], keys[key_set], seconds, args.concurrency)
                every[kind].append(result)
                if label != "warmup":
                    measured[kind].append(result)
                print(f"  {label:>7} {kind:<13} {result.answered / result.elapsed:8.1f}/s  {dict(result.outcomes)}", flush=True)
    finally:
        for server in servers.values():
            stop(server)
    load_after = os.getloadavg()
    rows, counted = record_in_database(args.database_url)
    summaries = {kind: summarise(kind, measured[kind]) for kind in PHASES}
    answered = {kind: sum(result.answered for result in every[kind]) for kind in PHASES}
    unexpected = {kind: sum((r.outcomes for r in every[kind]), Counter()) - Counter({"ok": answered[kind]}) for kind in PHASES}
    checks = [
        (f"every answer, warm-up included, was 200 with the expected code (others: {({k: dict(v) for k, v in unexpected.items() if v}) or 'none'})",
         not any(unexpected.values())),
        (f"record rows {rows} = outside answers of A {answered['outside']}", rows == answered["outside"]),
        (f"day counts {counted} = valid answers of A {answered['valid']}", counted == answered["valid"]),
    ]
    rate_ratio = summaries["valid"].rate / summaries["json"].rate
    record_cost = summaries["outside-bare"].rate / summaries["outside"].rate - 1
    counter_cost = summaries["valid-bare"].rate / summaries["valid"].rate - 1
    print()
    print(f"{'':14}{'answers/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'answers':>9}")
    for summary in summaries.values():
        print(f"{summary.kind:14}{summary.rate:10.1f}{summary.p50_ms:9.2f}{summary.p99_ms:9.2f}{summary.answered:9d}")
    print()
    print(f"valid/json rate             {rate_ratio:.3f}   goal >= {RATE_GOAL}   {'met' if rate_ratio >= RATE_GOAL else 'MISSED'}")
    print(f"outside-hours record cost   {record_cost:+.1%}   goal < {RECORD_COST_GOAL:.0%}    {'met' if record_cost < RECORD_COST_GOAL else 'MISSED'}"
          f"   (outside-bare {summaries['outside-bare'].rate:.1f}/s vs outside {summaries['outside'].rate:.1f}/s)")
    print(f"day counter cost            {counter_cost:+.1%}   (valid-bare {summaries['valid-bare'].rate:.1f}/s vs valid {summaries['valid'].rate:.1f}/s)")
    print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
    for label, ok in checks:
        print(f"check: {label}: {'ok' if ok else 'FAILED'}")
    goals_met = rate_ratio >= RATE_GOAL and record_cost < RECORD_COST_GOAL
    if args.json:
        args.json.write_text(json.dumps({
            "settings": vars(args) | {"json": str(args.json)},
            "summaries": {kind: summary.__dict__ for kind, summary in summaries.items()},
            "rate_ratio": rate_ratio, "record_cost": record_cost, "counter_cost": counter_cost,
            "load_average": [load_before[0], load_after[0]], "goals_met": goals_met,
        }, indent=2))
    if not all(ok for _label, ok in checks):
        return 1
    return 0 if goals_met else 2


if __name__ == "__main__":
    sys.exit(main())
