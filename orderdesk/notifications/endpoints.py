"""A customer's webhook endpoints: create, change, rotate the secret, delete; and the delivery log.

    endpoint_create(customer_id=…, url=…, events=[…])   → the endpoint (its secret is shown this once)
    endpoint_update(endpoint=…, url=…, events=…, enabled=…)
    endpoint_rotate_secret(endpoint=…)                  → new secret; the old one signs too for WEBHOOK_SIGNING_OVERLAP_HOURS
    endpoint_delete(endpoint=…)

Each raises EndpointInvalid naming every wrong field and changes nothing.
A URL must be one we may call now (orderdesk.notifications.safe_http.url_check:
https, a public address); it is checked again at every delivery.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orderdesk.notifications.events import EVENT_TYPES
from orderdesk.notifications.models import WebhookDelivery, WebhookEndpoint, new_secret
from orderdesk.notifications.safe_http import TargetRefused, url_check

URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 200


@dataclass(frozen=True)
class FieldProblem:
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class EndpointInvalid(Exception):
    def __init__(self, errors: list[FieldProblem]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def endpoint_create(*, customer_id: int, url: str, events: list, description: str = "") -> WebhookEndpoint:
    errors = [*_url_errors(url), *_events_errors(events), *_description_errors(description)]
    if WebhookEndpoint.objects.filter(customer_id=customer_id).count() >= settings.WEBHOOK_ENDPOINTS_PER_CUSTOMER:
        errors.append(FieldProblem(None, "limit", _("You have %(count)d endpoints, the most allowed.") % {"count": settings.WEBHOOK_ENDPOINTS_PER_CUSTOMER}))
    if errors:
        raise EndpointInvalid(errors)
    now = timezone.now()
    return WebhookEndpoint.objects.create(
        customer_id=customer_id, url=url, events=list(dict.fromkeys(events)), description=description, created_at=now, updated_at=now
    )


def endpoint_update(
    *, endpoint: WebhookEndpoint, url: str | None = None, events: list | None = None, description: str | None = None, enabled: bool | None = None
) -> WebhookEndpoint:
    """Change what is given; `enabled=True` starts a disabled endpoint again (its failure clock reset)."""
    errors = endpoint_problems(url=url, events=events, description=description)
    if errors:
        raise EndpointInvalid(errors)
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = list(dict.fromkeys(events))
        if description is not None:
            endpoint.description = description
        if enabled is True and not endpoint.is_active:
            endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = True, None, "", None
        elif enabled is False and endpoint.is_active:
            endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = False, now, "disabled by the customer"
            WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
                status=WebhookDelivery.Status.FAILED, next_attempt_at=None, leased_until=None
            )
        endpoint.updated_at = now
        endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; deliveries carry a signature with the old one too for WEBHOOK_SIGNING_OVERLAP_HOURS."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(hours=settings.WEBHOOK_SIGNING_OVERLAP_HOURS)
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        endpoint.save(update_fields=["previous_secret", "previous_secret_expires_at", "secret", "updated_at"])
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_problems(*, url=None, events=None, description=None) -> list[FieldProblem]:
    """What is wrong with these values (those given), for forms that check before saving (the admin)."""
    return [
        *(_url_errors(url) if url is not None else []),
        *(_events_errors(events) if events is not None else []),
        *(_description_errors(description) if description is not None else []),
    ]


def _url_errors(url) -> list[FieldProblem]:
    if not isinstance(url, str) or not url.strip():
        return [FieldProblem("url", "required", _("Give the URL that receives the events."))]
    if len(url) > URL_MAX_LENGTH:
        return [FieldProblem("url", "max_length", _("At most %(count)d characters.") % {"count": URL_MAX_LENGTH})]
    try:
        url_check(url)
    except TargetRefused as refused:
        return [FieldProblem("url", "refused", _("This URL cannot receive events: %(reason)s.") % {"reason": refused})]
    return []


def _events_errors(events) -> list[FieldProblem]:
    if not isinstance(events, list) or not events:
        return [FieldProblem("events", "required", _("Give a list of one or more event types."))]
    unknown = [e for e in events if not isinstance(e, str) or e not in EVENT_TYPES]
    if unknown:
        return [
            FieldProblem("events", "invalid_choice", _("Unknown event types %(unknown)s; known: %(known)s.") % {"unknown": unknown, "known": ", ".join(EVENT_TYPES)})
        ]
    return []


def _description_errors(description) -> list[FieldProblem]:
    if not isinstance(description, str):
        return [FieldProblem("description", "invalid", _("The description must be text."))]
    if len(description) > DESCRIPTION_MAX_LENGTH:
        return [FieldProblem("description", "max_length", _("At most %(count)d characters.") % {"count": DESCRIPTION_MAX_LENGTH})]
    return []
