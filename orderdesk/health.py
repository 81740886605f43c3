"""Readiness checks for /readyz: can this process serve, and is anyone working the queues?

Each check answers in well under a second even when its service hangs (the
cache and the broker have socket timeouts of a fraction of a second) and
reports what it found; `readiness` runs them all, so a probe shows every
problem at once, not only the first.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from orderdesk.celery import app as celery_app
from orderdesk.machinery import heartbeat_max_age
from orderdesk.models import WorkerHeartbeat


@dataclass
class CheckResult:
    ok: bool
    detail: dict = field(default_factory=dict)


def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return CheckResult(ok=True, detail={"vendor": connection.vendor})


def check_cache() -> CheckResult:
    """Write a key and read it back: the rate limit and the new orders' doorbell live there."""
    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    read = cache.get(key)
    cache.delete(key)
    return CheckResult(ok=read == value, detail={} if read == value else {"error": "the value written was not read back"})


def check_broker() -> CheckResult:
    """Open a connection to the broker as a publisher would, and close it."""
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
        if hasattr(broker.default_channel, "conn_or_acquire"):  # Redis: ask the server itself
            with broker.default_channel.conn_or_acquire() as client:
                client.ping()
    return CheckResult(ok=True, detail={"transport": celery_app.conf.broker_url.split(":", 1)[0]})


def check_workers() -> CheckResult:
    """A worker's heartbeat younger than WORKER_HEARTBEAT_MAX_AGE_SECONDS (0: not asked)."""
    if not settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS:
        return CheckResult(ok=True, detail={"required": False})
    now = timezone.now()
    newest = WorkerHeartbeat.objects.filter(stopped_at__isnull=True).order_by("-seen_at").values_list("seen_at", flat=True).first()
    live = WorkerHeartbeat.objects.filter(stopped_at__isnull=True, seen_at__gte=now - heartbeat_max_age()).count()
    detail = {
        "live": live,
        "max_age_seconds": settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS,
        "newest_heartbeat_seconds_ago": round((now - newest).total_seconds(), 1) if newest else None,
    }
    if not live:
        detail["error"] = "no worker heartbeat within the last %d seconds" % settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS
    return CheckResult(ok=live > 0, detail=detail)


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "workers": check_workers,
}


def readiness() -> tuple[bool, dict]:
    """Run every check; (all passed, {name: {"ok": …, "seconds": …, …}})."""
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 — a check that raises has failed; say how
            result = CheckResult(ok=False, detail={"error": f"{type(error).__name__}: {error}"[:300]})
        results[name] = {"ok": result.ok, "seconds": round(time.perf_counter() - started, 4), **result.detail}
    return all(result["ok"] for result in results.values()), results
