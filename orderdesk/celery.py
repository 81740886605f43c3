"""The Celery app. Queues are split by kind of work so one surge cannot starve the others."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
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
    "orders.tasks.*": {"queue": "pipeline"},
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
