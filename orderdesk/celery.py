"""The Celery app. Queues are split by kind of work so one surge cannot starve the others."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")

app = Celery("orderdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("pipeline", "documents", "imports", "notifications")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_routes = {
    "orders.tasks.*": {"queue": "pipeline"},
}

app.autodiscover_tasks()
