"""A key claimed by a request that died with its web worker is free again soon after gunicorn's timeout.

IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS follows WEB_TIMEOUT_SECONDS (gunicorn's
timeout, read by gunicorn.conf.py and the settings), start-up refuses the two
apart, and the 409 says when to retry (Retry-After).
"""

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from orderdesk.api.idempotency import request_fingerprint
from orderdesk.models import IdempotencyRecord
from orders.models import Order
from tests.conftest import order_body
from tests.workers import PROJECT_DIR, free_port, wait_for

pytestmark = pytest.mark.django_db


def claim(customer, key: str, *, age_seconds: float) -> None:
    """The key as a request that started `age_seconds` ago and has not finished leaves it."""
    started = timezone.now() - timedelta(seconds=age_seconds)
    IdempotencyRecord.objects.create(
        customer=customer, key=key, request_fingerprint=request_fingerprint("POST", "/api/v1/orders/", order_body()), created_at=started, expires_at=started + timedelta(hours=24)
    )


def post(api, key: str):
    return api.post("/api/v1/orders/", order_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_fresh_claim_answers_409_with_retry_after_one_second(api, customer):
    claim(customer, "key-1", age_seconds=0)

    response = post(api, "key-1")

    assert response.status_code == 409 and response.json()["type"] == "idempotency-key-in-flight"
    assert response["Retry-After"] == "1"


def test_an_older_claim_answers_409_with_the_seconds_until_it_lapses(api, customer, settings):
    settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = 35
    claim(customer, "key-1", age_seconds=20)

    response = post(api, "key-1")

    assert response.status_code == 409
    assert int(response["Retry-After"]) in (15, 16)
    assert "35" in response.json()["detail"]


def test_once_the_claim_lapses_the_retry_is_served(api, customer, settings):
    claim(customer, "key-1", age_seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 0.5)

    response = post(api, "key-1")

    assert response.status_code == 201
    assert Order.objects.count() == 1


def _settings_of(env: dict) -> subprocess.CompletedProcess:
    code = "from django.conf import settings as s; print(s.WEB_TIMEOUT_SECONDS, s.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)"
    environment = {k: v for k, v in os.environ.items() if k not in ("WEB_TIMEOUT_SECONDS", "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS")}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=PROJECT_DIR, env={**environment, **env},
        capture_output=True, text=True, timeout=60,
    )


def test_the_in_flight_timeout_follows_the_web_timeout():
    assert _settings_of({}).stdout.split() == ["30", "35"]
    assert _settings_of({"WEB_TIMEOUT_SECONDS": "90"}).stdout.split() == ["90", "95"]


@pytest.mark.parametrize(("web", "in_flight"), [("30", "30"), ("30", "20"), ("30", "61"), ("10", "60")])
def test_start_up_refuses_an_in_flight_timeout_apart_from_the_web_timeout(web, in_flight):
    result = _settings_of({"WEB_TIMEOUT_SECONDS": web, "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS": in_flight})

    assert result.returncode != 0
    assert "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS" in result.stderr and "WEB_TIMEOUT_SECONDS" in result.stderr


def _gunicorn(*arguments: str, env: dict, tmp_path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k not in ("WEB_TIMEOUT_SECONDS", "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS")}
    environment.update(ORDERDESK_LOCAL="1", METRICS_DIR=str(tmp_path / "metrics"), WEB_CONCURRENCY="1", **env)
    return subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "orderdesk.wsgi", *arguments],
        cwd=PROJECT_DIR, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_gunicorn_refuses_to_start_with_a_timeout_its_keys_do_not_follow(tmp_path):
    process = _gunicorn("--bind", f"127.0.0.1:{free_port()}", "--timeout", "120", env={}, tmp_path=tmp_path)

    output, _ = process.communicate(timeout=60)

    assert process.returncode != 0
    assert "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS is 35 s and the web timeout 120 s" in output


def test_gunicorn_starts_with_the_timeout_set_for_both(tmp_path):
    process = _gunicorn("--bind", f"127.0.0.1:{free_port()}", env={"WEB_TIMEOUT_SECONDS": "120"}, tmp_path=tmp_path)
    try:
        lines = []
        wait_for(lambda: lines.append(process.stdout.readline()) or "Booting worker" in lines[-1] or process.poll() is not None,
                 timeout=60, message="gunicorn to start")
        assert process.poll() is None, "".join(lines)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
