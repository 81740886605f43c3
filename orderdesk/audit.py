"""Who changed what, and when: the one audit convention of orders and quotes.

- `Actor`: who or what acted — a staff user, a customer's API token, or a
  system process ("pipeline", "expiry").
- `AuditEvent`: the shape of every timeline row (OrderEvent, QuoteEvent):
  when, who, what (`action`), the status before and after, why (`reason`,
  a person's words or the system's), and structured `data`.
- `transition()` / `transitions_locked()`: the one shape every status change
  takes (STYLE.md): guard the current state → atomic → lock the rows →
  update → one event per subject → side effects on commit. Running a
  transition that already happened is harmless: the guard sees the new
  state and writes nothing.

The apps keep thin, named wrappers (orders.services.transitions.order_transition,
quotes.services.transitions.quote_transition) that add their own fields and
errors; the shape itself lives only here.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Actor:
    """Who or what made a change; `label` is readable without a join ("staff:tanaka", "api:DEMO1", "pipeline")."""

    label: str
    user: object | None = None

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(label=name)

    @classmethod
    def customer(cls, customer) -> "Actor":
        return cls(label=f"api:{customer.code}")

    @classmethod
    def staff(cls, user) -> "Actor":
        return cls(label=f"staff:{user.get_username()}", user=user)


class AuditEvent(models.Model):
    """One row of a subject's timeline: a status change or another notable action. Never edited."""

    # The name of the concrete model's foreign key to its subject ("order", "quote").
    SUBJECT_FIELD: ClassVar[str]

    created_at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(_("by"), max_length=100)
    action = models.CharField(_("action"), max_length=32)
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def new(
        cls,
        subject,
        *,
        actor: Actor,
        action: str,
        from_status: str = "",
        to_status: str = "",
        reason: str = "",
        data: dict | None = None,
        created_at: datetime | None = None,
    ) -> "AuditEvent":
        """The event, not saved yet."""
        return cls(
            **{cls.SUBJECT_FIELD: subject},
            actor=actor.user,
            actor_label=actor.label,
            action=str(action),
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            data=data or {},
            created_at=created_at or timezone.now(),
        )

    @classmethod
    def record(cls, subject, **values) -> "AuditEvent":
        """Write one event for `subject` (see `new` for the values)."""
        event = cls.new(subject, **values)
        event.save(force_insert=True)
        return event


class TransitionNotAllowed(Exception):
    """The subject is not in a state this transition starts from."""

    def __init__(self, subject, to_status: str):
        self.subject = subject
        self.to_status = to_status
        super().__init__(f"{subject} is {subject.status}; it cannot become {to_status}")


@dataclass(frozen=True)
class Move:
    """One subject of a transition, with what is particular to it."""

    subject: models.Model
    reason: str = ""
    changes: dict = field(default_factory=dict)  # further fields saved with the status
    data: dict | None = None  # the event's data


def transitions_locked(
    *,
    event_model: type[AuditEvent],
    moves: Sequence[Move],
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    action: str,
) -> list:
    """Move subjects the caller has locked, in its open transaction, to `to_status`; one event each.

    Every subject is checked before anything is written (TransitionNotAllowed
    names the first one that is elsewhere). One UPDATE per distinct set of
    values and one INSERT for all events, so a batch of fifty costs a few
    statements, not a few per subject.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a locked transition needs the caller's transaction and row locks; use transition()")
    allowed = frozenset(allowed_from)
    for move in moves:
        if move.subject.status not in allowed:
            raise TransitionNotAllowed(move.subject, to_status)
    if not moves:
        return []
    model = type(moves[0].subject)
    now = timezone.now()
    events, same_values = [], {}
    for move in moves:
        subject, from_status = move.subject, move.subject.status
        values = {"status": to_status, "status_changed_at": now, **move.changes}
        for name, value in values.items():
            setattr(subject, name, value)
        key = repr(sorted((name, repr(value)) for name, value in values.items()))
        same_values.setdefault(key, (values, []))[1].append(subject.pk)
        events.append(
            event_model.new(
                subject,
                actor=actor,
                action=action,
                from_status=from_status,
                to_status=to_status,
                reason=move.reason,
                data=move.data,
                created_at=now,
            )
        )
    for values, keys in same_values.values():
        model.objects.filter(pk__in=keys).update(**values)
    event_model.objects.bulk_create(events)
    return [move.subject for move in moves]


def transition(
    *,
    queryset: models.QuerySet,
    pk,
    event_model: type[AuditEvent],
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    action: str,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    guard: Callable[[models.Model], None] | None = None,
    within: Callable[[models.Model], None] | None = None,
    on_commit: Callable[[models.Model], None] | None = None,
):
    """Lock one subject (`queryset.get(pk=pk)`, its own row only) and move it; raise TransitionNotAllowed otherwise.

    `guard` may refuse after the row is locked (checks that need the current
    data); `within` runs after the move in the same transaction (what must
    commit with it: the customer's event in the outbox); `on_commit` runs
    after the commit with the saved subject.
    """
    with transaction.atomic():
        subject = queryset.select_for_update(of=("self",)).get(pk=pk)
        if subject.status not in frozenset(allowed_from):
            raise TransitionNotAllowed(subject, to_status)
        if guard is not None:
            guard(subject)
        transitions_locked(
            event_model=event_model,
            moves=[Move(subject=subject, reason=reason, changes=changes or {}, data=data)],
            allowed_from=allowed_from,
            to_status=to_status,
            actor=actor,
            action=action,
        )
        if within is not None:
            within(subject)
        if on_commit is not None:
            transaction.on_commit(lambda: on_commit(subject))
    return subject
