"""Each Celery worker's heartbeat: a row in WorkerHeartbeat, written from the worker's main process.

A worker bootstep (added in orderdesk.celery) records the worker once when it
starts, then every WORKER_HEARTBEAT_SECONDS on the worker's own timer, and
marks it stopped when it shuts down cleanly. The row says which queues it
serves, how many tasks it is running and has run. /readyz and the dashboard
read it (orderdesk.machinery.worker_states). A worker that is killed just
stops beating; one that lost the broker stops too, while it reconnects.
"""

import logging
import os

from celery import bootsteps

logger = logging.getLogger(__name__)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None
        self.started_at = None

    def start(self, worker):
        from django.conf import settings
        from django.utils import timezone

        self.started_at = timezone.now()
        self.beat(worker)
        self.timer_entry = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_SECONDS, self.beat, (worker,), priority=10)

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        self.beat(worker, stopping=True)

    def beat(self, worker, stopping: bool = False) -> None:
        """Write the row. Never raises: a database outage must not stop the worker, only its heartbeat."""
        from celery.worker import state
        from django.db import close_old_connections
        from django.utils import timezone

        from orderdesk.models import WorkerHeartbeat

        now = timezone.now()
        try:
            close_old_connections()
            WorkerHeartbeat.objects.update_or_create(
                name=worker.hostname,
                defaults={
                    "pid": os.getpid(),
                    "queues": ",".join(sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)),
                    "concurrency": worker.concurrency or 0,
                    "started_at": self.started_at or now,
                    "seen_at": now,
                    "stopped_at": now if stopping else None,
                    "active_tasks": len(state.active_requests),
                    "tasks_done": sum(state.total_count.values()),
                },
            )
        except Exception:  # noqa: BLE001
            logger.warning("could not record the worker's heartbeat", exc_info=True)
