"""What a webhook URL may be and how it is called: SSRF refusals, the resolved address, no redirects, bounded bodies, signatures."""

import socket
import time

import pytest
from django.utils import timezone, translation

from orderdesk.notifications.models import WebhookEndpoint
from orderdesk.notifications.safe_http import SafePoster, TargetRefused, safe_post, url_check
from orderdesk.notifications.signing import signature_header, signature_verify
from tests.webhook_support import Receiver


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def private_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOW_HTTP = True


@pytest.fixture
def resolving_to(monkeypatch):
    """Make one host name resolve to the given addresses (as a DNS answer would)."""

    def resolve(name: str, addresses: list[str]):
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host == name:
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return resolve


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/hook", "http://[::1]/hook", "http://localhost/hook"],
)
def test_private_loopback_and_link_local_targets_are_refused(private_refused, url):
    with translation.override("en"), pytest.raises(TargetRefused, match="not a public address"):
        url_check(url)


def test_a_name_resolving_to_a_private_address_among_public_ones_is_refused(private_refused, resolving_to):
    resolving_to("hooks.customer.example", ["93.184.216.34", "192.168.1.10"])
    with pytest.raises(TargetRefused, match="192.168.1.10"):
        url_check("https://hooks.customer.example/in")


def test_a_refused_target_is_never_connected_to(private_refused, receiver):
    result = safe_post(receiver.url, body=b"{}", headers={})
    assert result.status_code is None and result.error.startswith("refused")
    assert receiver.started_requests == []


def test_http_is_refused_unless_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(TargetRefused, match="https"):
        url_check("http://93.184.216.34/hook", resolve=False)
    for url in ("ftp://example.com/x", "https://user:pw@example.com/x", "https:///nohost"):
        with pytest.raises(TargetRefused):
            url_check(url, resolve=False)


def test_the_connection_goes_to_the_address_checked_with_the_urls_host_name(settings, receiver, resolving_to):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    resolving_to("hooks.customer.example", ["127.0.0.1"])
    result = safe_post(f"http://hooks.customer.example:{receiver.port}/in", body=b"{}", headers={})
    assert result.status_code == 200
    assert receiver.received[0].headers["Host"] == f"hooks.customer.example:{receiver.port}"


def test_redirects_are_not_followed(settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    elsewhere = Receiver().start()
    receiver.redirect_to = elsewhere.url
    try:
        result = safe_post(receiver.url, body=b"{}", headers={})
        assert result.status_code == 307 and not result.succeeded
        assert elsewhere.started_requests == []
    finally:
        elsewhere.stop()


def test_only_the_first_bytes_of_a_large_response_are_read(settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RESPONSE_MAX_BYTES = 100
    receiver.answer = lambda item: (200, b"x" * 1_000_000)
    result = safe_post(receiver.url, body=b"{}", headers={})
    assert result.succeeded and len(result.excerpt) == 100


def test_a_slow_receiver_times_out(settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 2
    result = safe_post(receiver.url, body=b"{}", headers={})
    assert result.status_code is None and "timed out" in result.error


def test_a_signature_verifies_with_its_secret_within_five_minutes_only():
    body = b'{"id":"evt_1"}'
    header = signature_header(body=body, secrets=["whsec_a"], timestamp=int(time.time()))
    assert signature_verify(body=body, header=header, secret="whsec_a")
    assert not signature_verify(body=body, header=header, secret="whsec_b")
    assert not signature_verify(body=body + b" ", header=header, secret="whsec_a")
    old = signature_header(body=body, secrets=["whsec_a"], timestamp=int(time.time()) - 301)
    assert not signature_verify(body=body, header=old, secret="whsec_a")


@pytest.mark.django_db
def test_during_a_rotation_both_secrets_sign_for_the_overlap_then_only_the_new_one(customer):
    from datetime import timedelta

    from django.utils import timezone

    from orderdesk.notifications.endpoints import endpoint_rotate_secret

    endpoint = WebhookEndpoint.objects.create(customer=customer, url="https://hooks.example/in", events=["order.received"])
    old_secret = endpoint.secret
    endpoint = endpoint_rotate_secret(endpoint=endpoint)
    assert endpoint.secret != old_secret
    body = b"{}"
    header = signature_header(body=body, secrets=endpoint.signing_secrets())
    assert signature_verify(body=body, header=header, secret=endpoint.secret)
    assert signature_verify(body=body, header=header, secret=old_secret)
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert endpoint.signing_secrets(now=later) == [endpoint.secret]


@pytest.fixture
def kept_alive(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver(keep_alive=True).start()
    yield receiver
    receiver.stop()


def test_a_batch_posts_over_one_connection_to_the_address_resolved_once(kept_alive, resolving_to, monkeypatch):
    resolving_to("hooks.customer.example", ["127.0.0.1"])
    resolved = []
    counting = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: resolved.append(host) or counting(host, *args, **kwargs))
    with SafePoster() as poster:
        results = [poster.post(f"http://hooks.customer.example:{kept_alive.port}/in", body=b"{}", headers={}) for _ in range(3)]
    assert [result.status_code for result in results] == [200, 200, 200]
    assert len({item.client for item in kept_alive.received}) == 1  # one connection
    assert resolved.count("hooks.customer.example") == 1  # checked once, for the connection opened to what it resolved to
    assert {item.headers["Host"] for item in kept_alive.received} == {f"hooks.customer.example:{kept_alive.port}"}


def test_a_refused_host_is_refused_on_every_post_of_a_batch(private_refused, receiver):
    with SafePoster() as poster:
        results = [poster.post(receiver.url, body=b"{}", headers={}) for _ in range(2)]
    assert all(result.status_code is None and result.error.startswith("refused") for result in results)
    assert receiver.started_requests == []


def test_a_connection_the_receiver_closed_between_posts_is_opened_again(kept_alive):
    kept_alive.close_quietly = True
    with SafePoster() as poster:
        results = [poster.post(kept_alive.url, body=b"{}", headers={}) for _ in range(3)]
    assert [result.status_code for result in results] == [200, 200, 200]
    assert len(kept_alive.received) == 3 and len({item.client for item in kept_alive.received}) == 3


def test_a_connection_is_not_reused_after_a_body_longer_than_the_limit(kept_alive, settings):
    settings.WEBHOOK_RESPONSE_MAX_BYTES = 100
    kept_alive.answer = lambda item: (200, b"x" * 100_000)
    with SafePoster() as poster:
        first = poster.post(kept_alive.url, body=b"{}", headers={})
        kept_alive.answer = None
        second = poster.post(kept_alive.url, body=b"{}", headers={})
    assert len(first.excerpt) == 100 and second.status_code == 200
    assert second.excerpt == "ok"  # not the rest of the first answer
    assert len({item.client for item in kept_alive.received}) == 2


@pytest.mark.django_db
def test_a_delivery_batch_of_one_endpoint_goes_over_one_connection_each_signed(kept_alive, customer):
    from orderdesk.notifications.delivery import deliveries_attempt
    from orderdesk.notifications.models import Event, WebhookDelivery

    endpoint = WebhookEndpoint.objects.create(customer=customer, url=kept_alive.url, events=["order.received"])
    events = [Event.objects.create(customer=customer, type="order.received", payload={"n": n}) for n in range(3)]
    ids = [WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now()).pk for event in events]
    assert len(deliveries_attempt(delivery_ids=ids)) == 3
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert [item.event["id"] for item in kept_alive.received] == [event.public_id for event in events]
    assert all(item.signed_with(endpoint.secret) for item in kept_alive.received)
    assert len({item.client for item in kept_alive.received}) == 1


@pytest.mark.django_db
def test_a_batch_that_runs_long_starts_no_more_posts_and_releases_the_rest(kept_alive, customer, settings):
    from orderdesk.notifications.delivery import deliveries_attempt
    from orderdesk.notifications.models import Event, WebhookDelivery

    settings.WEBHOOK_DELIVERY_BATCH_SECONDS = 0.2
    kept_alive.delay = 0.3
    endpoint = WebhookEndpoint.objects.create(customer=customer, url=kept_alive.url, events=["order.received"])
    ids = [
        WebhookDelivery.objects.create(event=Event.objects.create(customer=customer, type="order.received"), endpoint=endpoint, next_attempt_at=timezone.now()).pk
        for _ in range(3)
    ]
    assert len(deliveries_attempt(delivery_ids=ids)) == 1
    rest = WebhookDelivery.objects.filter(pk__in=ids[1:])
    assert {(d.status, d.attempts, d.leased_until) for d in rest} == {("pending", 0, None)}  # due again, not counted as tried
    assert len(kept_alive.received) == 1
