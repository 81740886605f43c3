"""The Celery app. Queues are split by kind of work so one surge cannot starve the others."""

import os

from celery import Celery
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
