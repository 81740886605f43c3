"""Customers manage their webhook endpoints through the API and read each endpoint's delivery log."""

import pytest
from django.db import transaction

from orderdesk.notifications.delivery import deliveries_attempt
from orderdesk.notifications.models import WebhookDelivery, WebhookEndpoint
from orderdesk.notifications.outbox import event_record, events_dispatch
from orderdesk.notifications.signing import signature_verify
from tests.webhook_support import Receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def create(api, receiver, events=("order.received", "order.completed")):
    response = api.post(URL, {"url": receiver.url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_secret_is_shown_at_creation_and_never_again(api, receiver):
    created = create(api, receiver)
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    assert created["events"] == ["order.received", "order.completed"]
    listed = api.get(URL).json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"{URL}{created['id']}/").json()


def test_rotating_gives_a_new_secret_and_keeps_the_old_one_signing_for_a_day(api, receiver):
    created = create(api, receiver)
    rotated = api.post(f"{URL}{created['id']}/rotate-secret/").json()
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.signing_secrets() == [rotated["secret"], created["secret"]]


def test_update_changes_events_and_disables_and_enables(api, receiver):
    created = create(api, receiver)
    changed = api.patch(f"{URL}{created['id']}/", {"events": ["order.rejected"], "enabled": False}, format="json")
    assert changed.status_code == 200
    assert changed.json()["events"] == ["order.rejected"] and changed.json()["enabled"] is False
    assert api.patch(f"{URL}{created['id']}/", {"enabled": True}, format="json").json()["enabled"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["order.received"]}, "url"),
        ({"url": "http://169.254.169.254/latest/", "events": ["order.received"]}, "url"),
        ({"url": "https://hooks.example", "events": ["order.shipped"]}, "events"),
        ({"url": "https://hooks.example", "events": []}, "events"),
        ({"events": ["order.received"]}, "url"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field_and_nothing_is_stored(api, settings, body, field):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not WebhookEndpoint.objects.exists()


def test_another_customers_endpoints_are_not_found(api, outsider_api, receiver):
    created = create(api, receiver)
    path = f"{URL}{created['id']}/"
    assert outsider_api.get(URL).json() == []
    assert outsider_api.get(path).status_code == 404
    assert outsider_api.patch(path, {"enabled": False}, format="json").status_code == 404
    assert outsider_api.post(f"{path}rotate-secret/").status_code == 404
    assert outsider_api.get(f"{path}deliveries/").status_code == 404
    assert outsider_api.delete(path).status_code == 404
    assert WebhookEndpoint.objects.get(pk=created["id"]).is_active


def test_the_delivery_log_shows_each_attempt_and_send_again_delivers_once_more(api, receiver, customer):
    created = create(api, receiver)
    receiver.answer = lambda item: (503, b"busy")
    with transaction.atomic():
        event = event_record(customer_id=customer.pk, event_type="order.received", payload={"object": {"number": "O-1"}})
    deliveries_attempt(delivery_ids=events_dispatch())

    log = api.get(f"{URL}{created['id']}/deliveries/").json()["results"]
    assert len(log) == 1 and log[0]["event_id"] == event.public_id and log[0]["status"] == "pending"
    assert [(a["number"], a["status_code"], a["response_excerpt"]) for a in log[0]["attempt_log"]] == [(1, 503, "busy")]

    receiver.answer = None
    WebhookDelivery.objects.filter(pk=log[0]["id"]).update(status=WebhookDelivery.Status.FAILED)
    again = api.post(f"{URL}{created['id']}/deliveries/{log[0]['id']}/send-again/")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    deliveries_attempt(delivery_ids=[log[0]["id"]])
    log = api.get(f"{URL}{created['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == "succeeded" and [a["status_code"] for a in log[0]["attempt_log"]] == [503, 200]
    assert receiver.received[-1].signed_with(created["secret"])
    assert len({item.event["id"] for item in receiver.received}) == 1  # the same event id each time


def test_deleting_an_endpoint_stops_its_deliveries(api, receiver, customer):
    created = create(api, receiver)
    assert api.delete(f"{URL}{created['id']}/").status_code == 204
    with transaction.atomic():
        event_record(customer_id=customer.pk, event_type="order.received", payload={})
    assert events_dispatch() == []


def test_the_schema_documents_the_endpoints_api(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert set(paths[URL]) >= {"get", "post"}
    assert {"201", "400"} <= set(paths[URL]["post"]["responses"])
    assert {"200", "400", "404"} <= set(paths[URL + "{id}/"]["patch"]["responses"])
    assert {"204", "404"} <= set(paths[URL + "{id}/"]["delete"]["responses"])
    assert {"200", "404"} <= set(paths[URL + "{id}/rotate-secret/"]["post"]["responses"])
    assert "404" in paths[URL + "{id}/deliveries/"]["get"]["responses"]


def test_staff_add_an_endpoint_in_the_admin_see_its_secret_once_and_send_a_delivery_again(admin_client, customer, receiver):
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:notifications_webhookendpoint_add"),
        {"customer": customer.pk, "url": receiver.url, "events": ["order.received"], "description": "", "is_active": "on"},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in admin_client.get(reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk])).content.decode()

    with transaction.atomic():
        event_record(customer_id=customer.pk, event_type="order.received", payload={})
    (delivery_id,) = events_dispatch()
    WebhookDelivery.objects.filter(pk=delivery_id).update(status=WebhookDelivery.Status.FAILED)
    response = admin_client.post(
        reverse("admin:notifications_webhookdelivery_changelist"), {"action": "send_again", "_selected_action": [delivery_id]}, follow=True
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.get(pk=delivery_id).status == WebhookDelivery.Status.PENDING
    deliveries_attempt(delivery_ids=[delivery_id])
    assert receiver.received[-1].signed_with(endpoint.secret)
    log = admin_client.get(reverse("admin:notifications_webhookdelivery_change", args=[delivery_id])).content.decode()
    assert "200" in log


def test_an_endpoint_url_refused_in_the_admin_names_the_reason(admin_client, customer, settings):
    from django.urls import reverse

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = admin_client.post(
        reverse("admin:notifications_webhookendpoint_add"),
        {"customer": customer.pk, "url": "http://169.254.169.254/", "events": ["order.received"], "is_active": "on"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and ("公開アドレスではありません" in page or "not a public address" in page)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("model", ["webhookdelivery", "event", "outboundemail"])
def test_the_records_the_workers_write_cannot_be_added_or_edited_in_the_admin(admin_client, customer, model):
    from django.urls import reverse

    from orderdesk.notifications.models import Event, OutboundEmail, WebhookDelivery

    assert admin_client.get(reverse(f"admin:notifications_{model}_add")).status_code == 403
    event = Event.objects.create(customer=customer, type="order.received", payload={})
    endpoint = WebhookEndpoint.objects.create(customer=customer, url="https://hooks.example/in", events=["order.received"])
    record = {
        "webhookdelivery": lambda: WebhookDelivery.objects.create(event=event, endpoint=endpoint),
        "event": lambda: event,
        "outboundemail": lambda: OutboundEmail.objects.create(customer=customer, topic="t", kind="k", to=["a@example.jp"], subject="s", body="b"),
    }[model]()
    page = admin_client.get(reverse(f"admin:notifications_{model}_change", args=[record.pk]))
    assert page.status_code == 200 and page.context["adminform"].form.fields == {}  # every field read-only
