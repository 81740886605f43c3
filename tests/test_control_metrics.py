"""/metrics: Prometheus text that parses, counts that match the orders, and only for whom the settings allow."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from control.rollups import orders_rollup
from orders.models import Order, ReviewReason
from tests.control_support import fixed_now, minute_ago, placed_order
from tests.conftest import order_body

pytestmark = pytest.mark.django_db
Status = Order.Status


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape from loopback."""
    response = client.get("/metrics", REMOTE_ADDR=headers.pop("REMOTE_ADDR", "127.0.0.1"), **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(autouse=True)
def _short_backfill(settings):
    settings.DASHBOARD_ROLLUP_BACKFILL_DAYS = 1


def test_order_counters_and_backlog_gauges_match_the_orders(client, customer):
    now = fixed_now()
    for _ in range(3):
        placed_order(customer, created=minute_ago(now, 5), status=Status.COMPLETED, changed=minute_ago(now, 4))
    placed_order(customer, created=minute_ago(now, 5), status=Status.REJECTED, changed=minute_ago(now, 3), reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    placed_order(customer, created=minute_ago(now, 3), status=Status.NEEDS_REVIEW, reasons=[ReviewReason.QUANTITY_OVER_CAP, ReviewReason.MANUAL_APPROVAL], source=Order.Source.IMPORT)
    placed_order(customer, created=minute_ago(now, 2), status=Status.FAILED, changed=minute_ago(now, 1))
    placed_order(customer, created=minute_ago(now, 1), status=Status.RECEIVED)
    orders_rollup(now=now)

    samples = scrape(client)

    assert value(samples, "orderdesk_orders_received_total", source="api") == 6
    assert value(samples, "orderdesk_orders_received_total", source="import") == 1
    assert value(samples, "orderdesk_orders_finished_total", source="api", status="completed") == 3
    assert value(samples, "orderdesk_orders_finished_total", source="api", status="rejected") == 1
    assert value(samples, "orderdesk_orders_failed_total", source="api") == 1
    assert value(samples, "orderdesk_orders_open") == 3
    assert value(samples, "orderdesk_backlog_orders") == 2
    assert value(samples, "orderdesk_backlog_orders_by_state", state="failed") == 1
    assert value(samples, "orderdesk_backlog_orders_with_reason", reason="QUANTITY_OVER_CAP") == 1
    assert value(samples, "orderdesk_backlog_orders_with_reason", reason="MANUAL_APPROVAL") == 1
    assert value(samples, "orderdesk_broker_up") == 1
    assert ("orderdesk_queue_messages", (("queue", "pipeline"),)) in samples
    assert value(samples, "orderdesk_rollup_last_run_timestamp_seconds") > 0


def test_every_order_submission_is_timed_into_the_intake_histogram(client, api):
    before = scrape(client)
    for number in range(3):
        assert api.post("/api/v1/orders/", data=order_body(po_number=f"PO-M-{number}", lines=[{"sku": "SRA-1Y", "quantity": 5 + number}]), format="json").status_code == 201
    assert api.post("/api/v1/orders/", data={"po_number": ""}, format="json").status_code == 400

    after = scrape(client)

    def grown(outcome):
        name = "orderdesk_intake_latency_seconds_count"
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert (grown("accepted"), grown("refused")) == (3, 1)
    assert value(after, "orderdesk_intake_latency_seconds_bucket", outcome="accepted", le="+Inf") >= 3


# --- Who may scrape ----------------------------------------------------------------------


def test_with_nothing_configured_only_loopback_may_scrape(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "", []
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert refused.status_code == 403 and b"10.1.2.3" in refused.content


def test_a_token_lets_any_address_scrape_with_it_and_none_without(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "s3cret-metrics-token", []
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    missing = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Token s3cret-metrics-token").status_code == 401


def test_allowed_addresses_take_networks_and_refuse_the_rest(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "", ["10.0.0.0/8", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # loopback is not in the list
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403


def test_with_both_set_a_scraper_needs_both(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "tok", ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION="Bearer tok").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="172.16.0.1", HTTP_AUTHORIZATION="Bearer tok").status_code == 403


def test_a_bad_allowed_address_stops_start_up():
    import subprocess
    import sys

    from tests.workers import PROJECT_DIR

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "orderdesk.settings", "METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8,nonsense"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "METRICS_ALLOWED_ADDRESSES: 'nonsense'" in result.stderr


# --- Multi-process: what Celery pool processes measure reaches /metrics -------------------

from tests.test_pipeline import worker  # noqa: E402,F401 — the real worker (prefork) of the pipeline tests
from tests.workers import submit, wait_for  # noqa: E402


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_workers_step_durations_and_the_orders_reach_metrics(client, worker, api):  # noqa: F811
    before = scrape(client)
    numbers = [submit(api, po_number=f"PO-MP-{i}", lines=[{"sku": "SRA-1Y", "quantity": 20 + i}]) for i in range(5)]
    wait_for(lambda: Order.objects.filter(number__in=numbers, status=Status.COMPLETED).count() == 5, timeout=90, message="5 orders completed")
    orders_rollup()

    after = scrape(client)

    assert value(after, "orderdesk_orders_received_total", source="api") == 5
    assert value(after, "orderdesk_orders_finished_total", source="api", status="completed") == 5
    for step in ("received", "validated", "approved", "provisioning", "documenting"):
        name = "orderdesk_pipeline_step_duration_seconds_count"
        assert value(after, name, step=step) > value(before, name, step=step), step
    succeeded = "orderdesk_celery_tasks_total"
    assert value(after, succeeded, task="orders.tasks.advance_orders", outcome="succeeded") > value(
        before, succeeded, task="orders.tasks.advance_orders", outcome="succeeded"
    )
    grown = value(after, "orderdesk_intake_latency_seconds_count", outcome="accepted") - value(
        before, "orderdesk_intake_latency_seconds_count", outcome="accepted"
    )
    assert grown == 5
    assert value(after, "orderdesk_workers_live") >= 1


def test_a_worker_host_serves_its_process_metrics_under_the_same_rules(settings):
    from wsgiref.util import setup_testing_defaults

    from orderdesk.management.commands.serve_metrics import metrics_app
    from orderdesk.metrics import count_task

    count_task(task="orders.tasks.advance_orders", outcome="succeeded")

    def get(**environ):
        setup_testing_defaults(environ)
        environ.setdefault("PATH_INFO", "/metrics")
        answered = {}
        body = b"".join(metrics_app(environ, lambda status, headers: answered.update(status=status)))
        return answered["status"], body.decode()

    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "", []
    status, body = get(REMOTE_ADDR="127.0.0.1")
    assert status == "200 OK" and 'orderdesk_celery_tasks_total{outcome="succeeded",task="orders.tasks.advance_orders"}' in body
    assert get(REMOTE_ADDR="10.9.9.9")[0].startswith("403")
    settings.METRICS_TOKEN = "tok"
    assert get(REMOTE_ADDR="10.9.9.9", HTTP_AUTHORIZATION="Bearer tok")[0] == "200 OK"
