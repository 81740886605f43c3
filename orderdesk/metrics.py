"""Prometheus metrics the processes record themselves, and reading them for /metrics.

Multi-process mode: every gunicorn worker and every Celery pool process writes
its counters and histograms to its own files under METRICS_DIR (the settings
point PROMETHEUS_MULTIPROC_DIR there before prometheus_client is first
imported); /metrics adds up the files of every process on the host. Each
program empties its own subdirectory when it starts (`use_program_directory`:
gunicorn.conf.py for the web, orderdesk.celery for each worker), as
prometheus_client asks, so that files of processes long gone do not pile up.

What the database knows (orders, the backlog, queues, workers) is not counted
here but read when Prometheus scrapes: control.metrics.
"""

import functools
import glob
import hmac
import ipaddress
import logging
import os
import shutil
from pathlib import Path

from django.conf import settings

# Reading a setting loads the settings module, which sets PROMETHEUS_MULTIPROC_DIR:
# prometheus_client chooses its multi-process mode when it is first imported, below.
_METRICS_DIR = settings.METRICS_DIR

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

logger = logging.getLogger(__name__)

if values.ValueClass is values.MutexValue:  # imported before our settings, by someone else
    logger.warning("prometheus_client is not in multi-process mode: this process's metrics will not reach /metrics")

PIPELINE_STEP_SECONDS = Histogram(
    "orderdesk_pipeline_step_duration_seconds",
    "Seconds one pipeline task took (a batch of orders through one step), by the status the step starts from.",
    ["step"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
INTAKE_SECONDS = Histogram(
    "orderdesk_intake_latency_seconds",
    "Seconds from receiving POST /api/v1/orders/ to the response, by outcome (accepted 2xx, refused 4xx, error 5xx).",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CELERY_TASKS = Counter(
    "orderdesk_celery_tasks",
    "Celery tasks that ended, by task name and outcome (succeeded, retried, failed).",
    ["task", "outcome"],
)


def observe_intake(*, seconds: float, status_code: int) -> None:
    outcome = "accepted" if status_code < 300 else "refused" if status_code < 500 else "error"
    INTAKE_SECONDS.labels(outcome=outcome).observe(seconds)


def observe_step(*, step: str, seconds: float) -> None:
    PIPELINE_STEP_SECONDS.labels(step=step).observe(seconds)


def count_task(*, task: str, outcome: str) -> None:
    CELERY_TASKS.labels(task=task, outcome=outcome).inc()


def use_program_directory(name: str) -> Path:
    """Give this program (and the processes it forks) an empty metrics directory of its own.

    Called by the program's main process before it forks its workers: the
    gunicorn master ("web"), each Celery worker ("worker-<node name>").
    """
    safe = "".join(char if char.isalnum() or char in "-_.@" else "_" for char in name)
    directory = Path(_METRICS_DIR) / safe
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def mark_process_dead(pid: int) -> None:
    """A gunicorn worker exited: drop its live gauges (gunicorn.conf.py's child_exit)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


class ProcessFilesCollector:
    """The counters and histograms of every process on this host: all files under METRICS_DIR."""

    def collect(self):
        files = glob.glob(os.path.join(_METRICS_DIR, "**", "*.db"), recursive=True)
        return MultiProcessCollector.merge(files, accumulate=True)


def exposition(*collectors) -> bytes:
    """The metrics text: every process's own metrics, then what `collectors` read at this moment."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessFilesCollector())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def scrape_refusal(*, remote_addr: str, authorization: str) -> tuple[int, str] | None:
    """Why this client may not read /metrics, as (HTTP status, message); None when it may.

    METRICS_TOKEN and METRICS_ALLOWED_ADDRESSES: each one that is set must be
    satisfied. With neither set, only loopback clients may scrape. The address
    is the client's as sign-in sees it (orderdesk.signin.client_address, which
    trusts TRUSTED_PROXY_COUNT proxies); the token does not depend on it.
    """
    token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES
    networks = _networks(tuple(allowed)) if allowed else LOOPBACK if not token else None
    if networks is not None and not _address_in(remote_addr, networks):
        return 403, f"{remote_addr or 'this address'} may not read the metrics (METRICS_ALLOWED_ADDRESSES)"
    if token:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() != "bearer" or not sent:
            return 401, "send the metrics token as Authorization: Bearer <METRICS_TOKEN>"
        if not hmac.compare_digest(sent.strip().encode(), token.encode()):
            return 401, "the metrics token is not the one configured"
    return None


@functools.cache
def _networks(entries: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)  # checked by the settings


def _address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:127.0.0.1 from a dual-stack socket
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks if network.version == ip.version)
