"""/healthz says the process answers; /readyz checks the database, cache, broker and a live worker."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orderdesk.models import WorkerHeartbeat
from tests.conftest import skip_or_fail
from tests.workers import PrivateRedis, Worker, publishing_to, redis_server_available, wait_for

pytestmark = pytest.mark.django_db


def beat(name="celery@host", seconds_ago=1, stopped=False):
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=name, pid=123, queues="pipeline", concurrency=2, started_at=now - timedelta(hours=1),
        seen_at=now - timedelta(seconds=seconds_ago), stopped_at=now if stopped else None,
    )  # fmt: skip


def test_healthz_answers_without_asking_the_database(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(captured) == 0


def test_readyz_is_200_with_every_check_when_all_pass(client):
    beat(seconds_ago=5)

    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "workers"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["workers"]["live"] == 1


def test_readyz_is_503_when_the_only_worker_heartbeat_is_too_old(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS = 60
    beat(seconds_ago=61)
    beat(name="celery@stopped", seconds_ago=1, stopped=True)  # shut down cleanly: not working either

    response = client.get("/readyz")

    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    assert workers["ok"] is False and workers["live"] == 0
    assert "no worker heartbeat" in workers["error"]
    assert response.json()["checks"]["database"]["ok"] is True


def test_readyz_need_not_ask_for_a_worker(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS = 0
    assert client.get("/readyz").status_code == 200


def test_readyz_says_which_service_is_down(client, settings):
    beat()
    settings.CACHES = {
        "default": {
            "BACKEND": "orderdesk.cache.OrderdeskRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.5},
        }
    }
    with publishing_to("redis://127.0.0.1:9/0"):
        response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"]["ok"] is False and "ConnectionError" in checks["cache"]["error"]
    assert checks["broker"]["ok"] is False
    assert checks["database"]["ok"] is True and checks["workers"]["ok"] is True


# --- With a real worker and a private Redis that the test stops and starts ------------------


@pytest.fixture
def private_redis(tmp_path):
    if not redis_server_available():
        skip_or_fail("needs redis-server")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readyz_turns_503_when_redis_stops_and_200_when_it_returns(client, settings, private_redis, tmp_path):
    settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS = 30
    settings.CACHES = {
        "default": {
            "BACKEND": "orderdesk.cache.OrderdeskRedisCache",
            "LOCATION": private_redis.url.replace("/0", "/1"),
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.5},
        }
    }
    worker = Worker(broker_url=private_redis.url, log_dir=tmp_path, concurrency=1, env={"WORKER_HEARTBEAT_SECONDS": "1"}).start()
    try:
        with publishing_to(private_redis.url):
            ready = wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, message="readyz to be 200")
            assert ready

            private_redis.kill()
            down = client.get("/readyz")
            assert down.status_code == 503
            checks = down.json()["checks"]
            assert checks["cache"]["ok"] is False and checks["broker"]["ok"] is False
            assert checks["database"]["ok"] is True

            private_redis.start()  # the same port, empty
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=60, interval=0.5, message="readyz back to 200")
            assert client.get("/readyz").json()["checks"]["workers"]["live"] == 1
    finally:
        worker.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_records_its_heartbeat_and_marks_itself_stopped(settings, tmp_path):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "filesystem://")):
        skip_or_fail("needs a broker workers share: CELERY_BROKER_URL=redis://… or filesystem://")
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path, concurrency=2, env={"WORKER_HEARTBEAT_SECONDS": "1"}).start()
    try:
        row = wait_for(lambda: WorkerHeartbeat.objects.filter(name__startswith=worker.name).first(), timeout=20, message="a heartbeat")
        assert row.queues == "documents,pipeline" and row.concurrency == 2 and row.stopped_at is None
        first_seen = row.seen_at
        wait_for(lambda: WorkerHeartbeat.objects.get(pk=row.pk).seen_at > first_seen, timeout=10, message="a second heartbeat")
    finally:
        worker.stop()
    assert WorkerHeartbeat.objects.get(pk=row.pk).stopped_at is not None
