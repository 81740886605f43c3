"""The machinery seen from a web process: Celery queues, live workers, errors in the last hour.

Read by the dashboard, /metrics and /readyz. Each read is a handful of
round trips to the broker, the cache or the database, whatever the number of
orders: queue depths and the oldest message are read off the broker's lists,
workers report a heartbeat row (orderdesk.heartbeat), and the Celery signal
handlers (orderdesk.celery) count task errors per minute in the cache.
"""

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from orderdesk.celery import QUEUES
from orderdesk.celery import app as celery_app
from orderdesk.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# The header every published task carries (orderdesk.celery.stamp_sent_at): when it was sent.
SENT_AT_HEADER = "orderdesk_sent_at"


@dataclass(frozen=True)
class QueueState:
    name: str
    messages: int
    # Seconds the oldest waiting message has waited; None when the queue is empty or the broker cannot say.
    oldest_age_seconds: float | None


class BrokerUnreachable(Exception):
    pass


def queue_states(*, now: float | None = None) -> list[QueueState]:
    """Each Celery queue's waiting messages and the age of its oldest one. Raises BrokerUnreachable."""
    now = now or time.time()
    try:
        with celery_app.pool.acquire(block=True, timeout=2) as connection:
            channel = connection.default_channel
            if hasattr(channel, "priority_steps") and hasattr(channel, "conn_or_acquire"):
                return _redis_queue_states(channel, now)
            return [QueueState(name, channel._size(name), _oldest_file_age(channel, name, now)) for name in QUEUES]
    except Exception as error:  # noqa: BLE001 — whatever the transport raises, the broker did not answer
        raise BrokerUnreachable(f"{type(error).__name__}: {error}") from error


def _redis_queue_states(channel, now: float) -> list[QueueState]:
    """All queues in one pipeline: per priority list its length and its oldest message (kombu pops from the right)."""
    lists = [(name, channel._q_for_pri(name, priority)) for name in QUEUES for priority in channel.priority_steps]
    with channel.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
        for _name, key in lists:
            pipe.llen(key)
            pipe.lindex(key, -1)
        replies = pipe.execute()
    messages = dict.fromkeys(QUEUES, 0)
    oldest: dict[str, float | None] = dict.fromkeys(QUEUES)
    for (name, _key), length, tail in zip(lists, replies[0::2], replies[1::2]):
        messages[name] += int(length or 0)
        sent_at = _sent_at(tail)
        if sent_at is not None and (oldest[name] is None or sent_at < oldest[name]):
            oldest[name] = sent_at
    return [
        QueueState(name, messages[name], max(0.0, now - oldest[name]) if oldest[name] is not None else None) for name in QUEUES
    ]


def _sent_at(raw) -> float | None:
    if not raw:
        return None
    try:
        return float(json.loads(raw)["headers"][SENT_AT_HEADER])
    except (ValueError, KeyError, TypeError):
        return None  # a message from before the header existed, or not a Celery task


def _oldest_file_age(channel, name: str, now: float) -> float | None:
    """The embedded broker keeps one file per message: the oldest file of the queue."""
    folder = getattr(channel, "data_folder_in", None)
    if not folder:
        return None  # the in-memory transport of the tests
    suffix = f".{name}.msg"
    times = []
    for entry in os.scandir(folder):
        if entry.name.endswith(suffix):
            try:
                times.append(entry.stat().st_mtime)
            except FileNotFoundError:
                continue  # a worker took it meanwhile
    return max(0.0, now - min(times)) if times else None


@dataclass(frozen=True)
class WorkerState:
    name: str
    pid: int
    queues: str
    concurrency: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    active_tasks: int
    tasks_done: int
    seconds_since_seen: float
    live: bool


def heartbeat_max_age() -> timedelta:
    """How old a worker's last heartbeat may be for the worker to count as live."""
    seconds = settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS or 6 * settings.WORKER_HEARTBEAT_SECONDS
    return timedelta(seconds=seconds)


def worker_states(*, now: datetime | None = None, since: timedelta = timedelta(hours=24)) -> list[WorkerState]:
    """The workers heard from within `since`, live ones first. One query."""
    now = now or timezone.now()
    live_after = now - heartbeat_max_age()
    states = []
    for beat in WorkerHeartbeat.objects.filter(seen_at__gte=now - since).order_by("name"):
        states.append(
            WorkerState(
                name=beat.name, pid=beat.pid, queues=beat.queues, concurrency=beat.concurrency,
                started_at=beat.started_at, seen_at=beat.seen_at, stopped_at=beat.stopped_at,
                active_tasks=beat.active_tasks, tasks_done=beat.tasks_done,
                seconds_since_seen=max(0.0, (now - beat.seen_at).total_seconds()),
                live=beat.stopped_at is None and beat.seen_at >= live_after,
            )
        )  # fmt: skip
    return sorted(states, key=lambda state: (not state.live, state.name))


# --- Task errors, counted per five minutes in the shared cache by the Celery signal handlers ------

ERROR_KINDS = ("failed", "retried")
_ERRORS_KEY = "machinery:task-errors:{kind}:{bucket}"
_BUCKET_SECONDS = 300
_LAST_ERROR_KEY = "machinery:task-errors:last"
_KEEP_SECONDS = 2 * 60 * 60


def record_task_error(*, kind: str, task: str, error: str, now: float | None = None) -> None:
    """Count a failed or retried task in this five minutes' counter. Never raises: a cache outage loses the count."""
    now = now or time.time()
    key = _ERRORS_KEY.format(kind=kind, bucket=int(now // _BUCKET_SECONDS))
    try:
        cache.add(key, 0, timeout=_KEEP_SECONDS)
        cache.incr(key)
        cache.set(_LAST_ERROR_KEY, {"kind": kind, "task": task, "error": error[:300], "at": now}, timeout=_KEEP_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("could not count a %s task (%s) in the cache", kind, task, exc_info=True)


@dataclass(frozen=True)
class RecentErrors:
    failed: int
    retried: int
    last: dict | None  # kind, task, error, at (unix time)


def recent_task_errors(*, now: float | None = None, minutes: int = 60) -> RecentErrors | None:
    """Task failures and retries of the last `minutes` (in five-minute steps), from the cache in one round trip.

    None when the cache cannot say.
    """
    now = now or time.time()
    current = int(now // _BUCKET_SECONDS)
    buckets = range(current - minutes * 60 // _BUCKET_SECONDS + 1, current + 1)
    keys = {_ERRORS_KEY.format(kind=kind, bucket=bucket): kind for kind in ERROR_KINDS for bucket in buckets}
    try:
        found = cache.get_many([*keys, _LAST_ERROR_KEY])
    except Exception:  # noqa: BLE001
        logger.warning("could not read the task error counts from the cache", exc_info=True)
        return None
    totals = dict.fromkeys(ERROR_KINDS, 0)
    for key, kind in keys.items():
        totals[kind] += int(found.get(key) or 0)
    last = found.get(_LAST_ERROR_KEY)
    if last and last.get("at", 0) < now - minutes * 60:
        last = None
    return RecentErrors(failed=totals["failed"], retried=totals["retried"], last=last)
