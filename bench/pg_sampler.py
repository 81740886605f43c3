"""How long the pipeline's transactions hold row locks, and how long others wait for them, sampled from PostgreSQL.

Every few milliseconds a thread reads pg_stat_activity for the bench's database
and notes, for each other backend:

- whether it waits for a lock (wait_event_type 'Lock'): summed, that is the
  lock wait time, in backend-seconds;
- how long its open transaction has lasted (now - xact_start), and which step
  it runs, told by the statements seen in it: the seat ledger's tables are the
  provisioning step's, the documents table the documenting step's, and the
  step's UPDATE of the orders names the status it moves them to. The longest
  age seen per transaction is its duration: how long it held the rows it locked
  (a step locks its orders first).

Sampling misses transactions shorter than the interval, so counts and
durations below it are not exact; long holds and waits, which are what
matter, are not missed. Used by bench/pipeline.py; it runs on its own too:

    .venv/bin/python bench/pg_sampler.py postgres://postgres@127.0.0.1:5432/orderdesk_bench   # Ctrl-C prints
"""

import re
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

STEP_STATUSES = ("received", "validated", "approved", "provisioning", "documenting")
# The status a step's UPDATE moves its orders to → the step.
_STEP_BY_NEW_STATUS = {
    "validated": "received",
    "approved": "validated",
    "needs_review": "validated",
    "provisioning": "approved",
    "documenting": "provisioning",
    "completed": "documenting",
}
_NEW_STATUS = re.compile(r"""UPDATE "orders_order" SET "status" = '([a-z_]+)'""")


def step_of(query: str) -> str | None:
    """The pipeline step a statement belongs to, when the statement tells."""
    if "orders_orderdocument" in query:
        return "documenting"
    if any(table in query for table in ("licensing_seatledgerentry", "licensing_licensekey", "licensing_subscription")):
        return "provisioning"
    moved = _NEW_STATUS.search(query)
    return _STEP_BY_NEW_STATUS.get(moved.group(1)) if moved else None


@dataclass
class LockSample:
    interval: float
    lock_wait_seconds: float = 0.0
    # (pid, xact_start) → [step or None, longest age seen in seconds, seconds seen waiting for a lock]
    transactions: dict = field(default_factory=dict)

    def durations_by_step(self) -> dict[str, list[float]]:
        by_step = defaultdict(list)
        for step, longest, _waited in self.transactions.values():
            by_step[step or "other"].append(longest)
        return dict(by_step)

    def waits_by_step(self) -> dict[str, float]:
        by_step = defaultdict(float)
        for step, _longest, waited in self.transactions.values():
            by_step[step or "other"] += waited
        return dict(by_step)

    def report(self) -> list[str]:
        lines = [f"lock wait (backends waiting for a row lock): {self.lock_wait_seconds:.2f} backend-seconds"]
        waits = self.waits_by_step()
        for step in (*STEP_STATUSES, "other"):
            durations = self.durations_by_step().get(step, [])
            if not durations:
                continue
            lines.append(
                f"  {step:<13} {len(durations):5d} transactions seen, held p50 {statistics.median(durations) * 1000:7.1f} ms, "
                f"max {max(durations) * 1000:7.1f} ms, total {sum(durations):6.2f} s; waited for locks {waits.get(step, 0.0):5.2f} s"
            )
        return lines


class Sampler(threading.Thread):
    def __init__(self, database_url: str, *, interval: float = 0.005):
        super().__init__(daemon=True)
        self.database_url = database_url
        self.sample = LockSample(interval=interval)
        self._done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            database = conn.info.dbname
            own = conn.info.backend_pid
            while not self._done.is_set():
                rows = conn.execute(
                    "SELECT pid, wait_event_type, xact_start, extract(epoch FROM now() - xact_start), query"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> %s AND xact_start IS NOT NULL",
                    [database, own],
                ).fetchall()
                for pid, wait_type, xact_start, age, query in rows:
                    entry = self.sample.transactions.setdefault((pid, xact_start), [None, 0.0, 0.0])
                    entry[0] = entry[0] or step_of(query or "")
                    entry[1] = max(entry[1], float(age or 0))
                    if wait_type == "Lock":
                        self.sample.lock_wait_seconds += self.sample.interval
                        entry[2] += self.sample.interval
                time.sleep(self.sample.interval)

    def stop(self) -> LockSample:
        self._done.set()
        self.join(timeout=5)
        return self.sample


if __name__ == "__main__":
    sampler = Sampler(sys.argv[1])
    sampler.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\n".join(sampler.stop().report()))
