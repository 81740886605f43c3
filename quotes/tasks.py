"""Celery tasks of the quotes app: thin wrappers around one service each."""

from celery import shared_task

from quotes.services.notices import quotes_expiring_notify
from quotes.services.workflow import quote_expire_due


@shared_task
def expire_quotes() -> int:
    """Daily (beat): sent quotes past their validity become expired."""
    return quote_expire_due()


@shared_task
def notify_expiring_quotes() -> int:
    """Daily (beat): the quote.expiring event for sent quotes that end in 3 days."""
    return quotes_expiring_notify()
