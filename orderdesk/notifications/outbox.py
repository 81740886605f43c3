"""The outbox: customer events written in the caller's transaction, fanned out to endpoints after commit.

    event_record(customer_id=…, event_type=…, payload=…)   inside the transaction of the change
    events_record([EventRecord(…), …])                      the same for a batch, one INSERT
    event_row(…)                                             the row's columns, for a writer that inserts it itself

After the commit a `dispatch_events` message (one per transaction, and one
per burst across transactions) makes a worker fan each new event out to the
customer's active endpoints subscribed to its type (`events_dispatch`): one
WebhookDelivery row per endpoint, then one delivery message each. A message
lost on the way (broker down, worker killed) changes nothing: the sweeper
(`notifications_sweep`) finds undispatched events and due deliveries in the
tables and publishes again.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.utils import timezone

from orderdesk.cache import add_flag
from orderdesk.notifications.events import EVENT_TYPES
from orderdesk.notifications.models import Event, WebhookDelivery, WebhookEndpoint, new_event_id

logger = logging.getLogger(__name__)

DISPATCH_PENDING_KEY = "notifications:dispatch-pending"


@dataclass(frozen=True)
class EventRecord:
    customer_id: int
    event_type: str
    payload: dict


def event_record(*, customer_id: int, event_type: str, payload: dict) -> Event:
    """Write one event in the caller's open transaction; it is dispatched after the commit (or never, on rollback)."""
    return events_record([EventRecord(customer_id=customer_id, event_type=event_type, payload=payload)])[0]


def events_record(records: Sequence[EventRecord]) -> list[Event]:
    """Write a batch of events in the caller's open transaction with one INSERT."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an event is recorded in the transaction of the change that caused it")
    now = timezone.now()
    events = [Event(**event_row(customer_id=r.customer_id, event_type=r.event_type, payload=r.payload, created_at=now)) for r in records]
    if not events:
        return []
    Event.objects.bulk_create(events)
    dispatch_after_commit()
    return events


def event_row(*, customer_id: int, event_type: str, payload: dict, created_at=None) -> dict:
    """Every column of a new event but its primary key (for writers that insert rows in their own statement)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: add it to orderdesk.notifications.events.EVENT_TYPES")
    return {
        "public_id": new_event_id(),
        "customer_id": customer_id,
        "type": event_type,
        "payload": payload,
        "created_at": created_at or timezone.now(),
        "dispatched_at": None,
    }


def dispatch_after_commit() -> None:
    """Publish one dispatch message after the current transaction commits (once per transaction)."""
    connection = transaction.get_connection()
    if any(entry[1] is publish_dispatch for entry in connection.run_on_commit):
        return
    transaction.on_commit(publish_dispatch)


def publish_dispatch() -> bool:
    """Publish a `dispatch_events` message unless one is pending (a shared cache flag). Never raises.

    Loses no event for the reason the pipeline's gather message loses no order
    (orders.services.queueing): the pending message clears the flag before it
    reads the undispatched events; and the sweeper covers a lost message.
    """
    cache = _shared_cache()
    if cache is not None:
        try:
            if not add_flag(DISPATCH_PENDING_KEY, timeout=settings.WEBHOOK_DISPATCH_DEDUP_SECONDS, cache=cache):
                return True
        except Exception:  # noqa: BLE001 — publish without the flag
            logger.warning("could not set the dispatch-pending flag; publishing anyway", exc_info=True)
    from orderdesk.notifications.tasks import dispatch_events

    if publish(dispatch_events, args=[]):
        return True
    clear_dispatch_pending()
    return False


def clear_dispatch_pending() -> None:
    cache = _shared_cache()
    if cache is None:
        return
    try:
        cache.delete(DISPATCH_PENDING_KEY)
    except Exception:  # noqa: BLE001 — it expires on its own
        logger.warning("could not delete the dispatch-pending flag", exc_info=True)


def _shared_cache():
    cache = caches["default"]
    if settings.WEBHOOK_DISPATCH_DEDUP_SECONDS and isinstance(cache, (RedisCache, FileBasedCache)):
        return cache
    return None


def publish(task, *, args: list, countdown: float | None = None) -> bool:
    """Put a message on the notifications queue; False (logged) when the broker is unreachable."""
    try:
        task.apply_async(args=args, queue="notifications", countdown=countdown, retry=False)
    except Exception:  # noqa: BLE001 — the tables keep the work; the sweeper publishes again
        logger.warning("could not publish %s%s; the sweeper will", task.name, args, exc_info=True)
        return False
    return True


def events_dispatch(*, limit: int | None = None) -> list[int]:
    """Fan the oldest undispatched events out to their endpoints; returns the new deliveries' ids.

    Runs in one transaction with the events locked (SKIP LOCKED: two workers
    take different events); a delivery already made for an (event, endpoint)
    is not made twice (unique constraint). Deliveries are published after
    commit, and a full batch publishes the next dispatch.
    """
    limit = limit or settings.WEBHOOK_DISPATCH_BATCH
    clear_dispatch_pending()
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True)
            .order_by("created_at", "pk")
            .only("pk", "customer_id", "type")[:limit]
        )
        if not events:
            return []
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(customer_id__in={e.customer_id for e in events}, is_active=True).only(
            "pk", "customer_id", "events"
        ):
            endpoints.setdefault(endpoint.customer_id, []).append(endpoint)
        deliveries = [
            WebhookDelivery(event_id=event.pk, endpoint_id=endpoint.pk, next_attempt_at=now, created_at=now, retry_window_from=now)
            for event in events
            for endpoint in endpoints.get(event.customer_id, ())
            if event.type in endpoint.events
        ]
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
        delivery_ids = (
            list(
                WebhookDelivery.objects.filter(event_id__in=[e.pk for e in events], status=WebhookDelivery.Status.PENDING)
                # One endpoint's deliveries side by side, oldest first: a message's batch then mostly goes to one
                # endpoint, over one kept-alive connection (SafePoster).
                .order_by("endpoint_id", "pk")
                .values_list("pk", flat=True)
            )
            if deliveries
            else []
        )
        transaction.on_commit(lambda: publish_deliveries(delivery_ids))
        if len(events) == limit:
            transaction.on_commit(publish_dispatch)
    return delivery_ids


def publish_deliveries(delivery_ids: Sequence[int]) -> None:
    """Messages of up to WEBHOOK_DELIVERY_BATCH deliveries each (given grouped by endpoint, so mostly one endpoint's)."""
    from orderdesk.notifications.tasks import deliver_webhooks

    size = settings.WEBHOOK_DELIVERY_BATCH
    for start in range(0, len(delivery_ids), size):
        publish(deliver_webhooks, args=[list(delivery_ids[start : start + size])])


def undispatched_waiting(*, older_than: timedelta) -> bool:
    """Whether an event committed more than `older_than` ago waits for its dispatch (the sweeper's question)."""
    return Event.objects.filter(dispatched_at__isnull=True, created_at__lt=timezone.now() - older_than).exists()
