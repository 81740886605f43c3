"""The one shape every quote status change takes (as orders.services.transitions does for orders).

guard → atomic → lock the row → save(update_fields) → QuoteEvent → side effects on commit.
"""

from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from quotes.models import Quote, QuoteEvent
from quotes.services.actors import Actor
from quotes.services.errors import QuoteActionNotAllowed


def record_event(*, quote: Quote, actor: Actor, action: str, from_status: str = "", to_status: str = "", comment: str = "", data=None) -> QuoteEvent:
    return QuoteEvent.objects.create(
        quote=quote,
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
        data=data or {},
    )


def quote_transition(
    *,
    quote_id: int,
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    action: str,
    not_allowed_message,
    comment: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    guard: Callable[[Quote], None] | None = None,
    on_commit: Callable[[Quote], None] | None = None,
) -> Quote:
    """Move a quote from one of `allowed_from` to `to_status`, or raise QuoteActionNotAllowed.

    `guard` may raise QuoteActionNotAllowed after the row is locked (checks
    that need the current data); `changes` are further fields saved with the status.
    """
    with transaction.atomic():
        quote = Quote.objects.select_for_update().get(pk=quote_id)
        if quote.status not in frozenset(allowed_from):
            raise QuoteActionNotAllowed(quote, not_allowed_message)
        if guard is not None:
            guard(quote)
        from_status = quote.status
        now = timezone.now()
        quote.status = to_status
        quote.status_changed_at = now
        quote.updated_at = now
        for name, value in (changes or {}).items():
            setattr(quote, name, value)
        quote.save(update_fields=["status", "status_changed_at", "updated_at", *(changes or {})])
        record_event(
            quote=quote, actor=actor, action=action, from_status=from_status, to_status=to_status, comment=comment, data=data
        )
        if on_commit is not None:
            transaction.on_commit(lambda: on_commit(quote))
    return quote
