"""Periodic housekeeping of the licensing app: thin wrappers around one service each."""

from celery import shared_task

from licensing.renewals import renewal_notices_send
from licensing.validation import work_hours_record_prune


@shared_task
def prune_work_hours_record() -> int:
    return work_hours_record_prune()


@shared_task
def send_renewal_notices() -> int:
    """Daily: the 90-, 30- and 7-day renewal notices that are due, each once (a second run sends nothing)."""
    return renewal_notices_send()
