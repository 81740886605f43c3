"""Quote status changes and history entries, in the shape every audited change takes (orderdesk.audit)."""

from collections.abc import Callable, Iterable

from django.utils import timezone

from orderdesk.audit import Actor, TransitionNotAllowed, transition
from quotes.models import Quote, QuoteEvent
from quotes.services.errors import QuoteActionNotAllowed


def record_event(*, quote: Quote, actor: Actor, action: str, reason: str = "", data: dict | None = None, from_status: str = "", to_status: str = "") -> QuoteEvent:
    """A history entry; a status change goes through quote_transition instead (creating and revising, which
    make a quote, name the status it starts in)."""
    return QuoteEvent.record(quote, actor=actor, action=action, reason=reason, data=data, from_status=from_status, to_status=to_status)


def quote_transition(
    *,
    quote_id: int,
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    action: str,
    not_allowed_message,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    guard: Callable[[Quote], None] | None = None,
    within: Callable[[Quote], None] | None = None,
    on_commit: Callable[[Quote], None] | None = None,
) -> Quote:
    """Move a quote from one of `allowed_from` to `to_status`, or raise QuoteActionNotAllowed.

    `guard` may raise QuoteActionNotAllowed after the row is locked (checks
    that need the current data); `changes` are further fields saved with the
    status; `within` runs after the move in its transaction (the customer's event).
    """
    try:
        return transition(
            queryset=Quote.objects.all(),
            pk=quote_id,
            event_model=QuoteEvent,
            allowed_from=allowed_from,
            to_status=to_status,
            actor=actor,
            action=action,
            reason=reason,
            data=data,
            changes={"updated_at": timezone.now(), **(changes or {})},
            guard=guard,
            within=within,
            on_commit=on_commit,
        )
    except TransitionNotAllowed as refused:
        raise QuoteActionNotAllowed(refused.subject, not_allowed_message) from None
