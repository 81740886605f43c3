"""The Celery app. Queues are split by kind of work so one surge cannot starve the others."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish, celeryd_init, task_failure, task_postrun, task_prerun, task_retry
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")

app = Celery("orderdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("pipeline", "documents", "imports", "notifications")
# Each queue has its own direct exchange and routing key; sharing the default
# exchange would bind every queue to the same key and copy each message to all.
app.conf.task_queues = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]
app.conf.task_default_exchange = "pipeline"
app.conf.task_default_routing_key = "pipeline"
app.conf.task_routes = {
    # Exact names are matched before the patterns: a spreadsheet import never waits behind a surge's pipeline.
    "orders.tasks.run_import": {"queue": "imports"},
    "orders.tasks.check_import": {"queue": "imports"},
    "orders.tasks.*": {"queue": "pipeline"},
    # The control room's rollups and digest: in a surge the pipeline queue holds
    # thousands of messages, and the dashboard must not wait behind them.
    "control.tasks.*": {"queue": "notifications"},
    # Webhook deliveries and customer e-mail (orderdesk.notifications).
    "orderdesk.notifications.tasks.*": {"queue": "notifications"},
    # The daily renewal notices (they queue e-mail and events through orderdesk.notifications).
    "licensing.tasks.send_renewal_notices": {"queue": "notifications"},
}

app.autodiscover_tasks()

# Celery's Django fixup closes every database connection before and after each
# task unless DB_REUSE_MAX is set: every pipeline step then paid for a new
# PostgreSQL connection (a server process forked per task), which was most of
# a worker's time in a surge. With reuse on, the fixup closes them only every
# this many tasks, and Django's own rules apply around each task, as around a
# web request: CONN_MAX_AGE, and the health check after an error.
app.conf.CELERY_DB_REUSE_MAX = 1000


@task_prerun.connect
@task_postrun.connect
def close_unusable_or_old_database_connections(sender=None, **kwargs) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # inside the caller's request or transaction: its connection is not ours to close
    from django.db import close_old_connections

    close_old_connections()


# --- The control room: heartbeats, metrics and error counts (see orderdesk.heartbeat, orderdesk.metrics) ---

from orderdesk.heartbeat import WorkerHeartbeatStep  # noqa: E402

app.steps["worker"].add(WorkerHeartbeatStep)

# The pipeline's tasks, and the step (order status) each message runs: label of the step-duration histogram.
_PIPELINE_TASKS = {"orders.tasks.advance_order", "orders.tasks.advance_orders", "orders.tasks.gather_received_orders"}
_task_started: dict[str, float] = {}


@celeryd_init.connect
def metrics_directory_of_this_worker(sender=None, **kwargs) -> None:
    """Each worker (by node name) keeps its metric files apart, emptied at start; its pool processes inherit it."""
    from orderdesk.metrics import use_program_directory

    use_program_directory(f"worker-{sender}")


@before_task_publish.connect
def stamp_sent_at(headers=None, **kwargs) -> None:
    """Every message says when it was sent: the dashboard shows how long the oldest one has waited."""
    from orderdesk.machinery import SENT_AT_HEADER

    if headers is not None:
        headers[SENT_AT_HEADER] = time.time()


@task_prerun.connect
def remember_task_start(task_id=None, **kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


@task_postrun.connect
def measure_task(task_id=None, task=None, kwargs=None, state=None, **extra) -> None:
    started = _task_started.pop(task_id, None)
    if task is None:
        return
    from orderdesk import metrics

    outcome = {"SUCCESS": "succeeded", "RETRY": "retried", "FAILURE": "failed"}.get(state, str(state).lower())
    metrics.count_task(task=task.name, outcome=outcome)
    if task.name in _PIPELINE_TASKS and started is not None:
        step = "received" if task.name.endswith("gather_received_orders") else (kwargs or {}).get("status") or "any"
        metrics.observe_step(step=step, seconds=time.perf_counter() - started)


@task_failure.connect
def count_failed_task(sender=None, exception=None, **kwargs) -> None:
    from orderdesk.machinery import record_task_error

    record_task_error(kind="failed", task=getattr(sender, "name", "?"), error=f"{type(exception).__name__}: {exception}")


@task_retry.connect
def count_retried_task(sender=None, reason=None, **kwargs) -> None:
    from orderdesk.machinery import record_task_error

    record_task_error(kind="retried", task=getattr(sender, "name", "?"), error=str(reason))
