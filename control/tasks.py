"""Celery beat's work for the control room: thin wrappers around one service call each."""

from celery import shared_task

from control.digest import digest_send, yesterday
from control.rollups import orders_rollup


@shared_task
def rollup_orders() -> int:
    """Every DASHBOARD_ROLLUP_INTERVAL_SECONDS: the minutes since the last run (and a few before) rolled up again."""
    return orders_rollup().minutes


@shared_task
def send_daily_digest() -> int:
    """At 08:30 Japan time: yesterday's digest to every manager, once each (a second run sends nothing)."""
    return digest_send(day=yesterday())
