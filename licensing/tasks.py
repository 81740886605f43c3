"""Periodic housekeeping of the licensing app: thin wrappers around one service each."""

from celery import shared_task

from licensing.validation import work_hours_record_prune


@shared_task
def prune_work_hours_record() -> int:
    return work_hours_record_prune()
