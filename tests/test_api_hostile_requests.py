"""Single requests built to break the server answer 4xx problem+json, never a 500 or gunicorn's HTML page.

A NUL in a path segment (PostgreSQL refuses it in a query), JSON nested a
thousand deep, a lone surrogate in a body sent with an Idempotency-Key, a
chunked body, and headers over gunicorn's limits or malformed.
"""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from orders.models import Order
from tests.conftest import order_body, take_published
from tests.factories import sent_quote, staff_user, submitted_order
from tests.workers import PROJECT_DIR, database_url_for_workers, free_port, wait_for

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"

API_PATHS_WITH_A_NAME = [
    ("get", "/api/v1/orders/{}/"),
    ("post", "/api/v1/orders/{}/cancel/"),
    ("get", "/api/v1/orders/{}/documents/quote.pdf"),
    ("get", "/api/v1/quotes/{}/"),
    ("post", "/api/v1/quotes/{}/accept/"),
    ("get", "/api/v1/licenses/{}/history/"),
    ("get", "/api/v1/licenses/{}/keys/"),
]
STAFF_PATHS_WITH_A_NAME = [
    ("get", "/backlog/{}/"),
    ("get", "/backlog/{}/quote.pdf"),
    ("post", "/backlog/{}/approve/"),
    ("post", "/backlog/{}/cancel/"),
    ("get", "/quotes/{}/"),
    ("get", "/quotes/{}/quote.pdf"),
    ("post", "/quotes/{}/accept/"),
    ("get", "/customers/{}/"),
]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["status"] == status and body["type"] and body["title"]
    return body


@pytest.mark.parametrize("method, template", API_PATHS_WITH_A_NAME)
def test_a_nul_in_an_api_path_segment_is_404_problem(api, method, template):
    for name in ("%00", "O-2026-%00000001", "SRA-1Y%00"):
        assert_problem(getattr(api, method)(template.format(name)), 404)


@pytest.mark.parametrize("method, template", STAFF_PATHS_WITH_A_NAME)
def test_a_nul_in_a_staff_page_path_is_the_404_page(db, method, template):
    client = Client()
    client.force_login(staff_user("boss", "manager", "order_desk", "sales"))

    response = getattr(client, method)(template.format("O-2026-%00000001"))

    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/licenses/validate/"])
@pytest.mark.parametrize("depth", [1_000, 40_000, 33])
def test_json_nested_too_deep_is_400_and_nothing_is_created(api, path, depth):
    for nested in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        body = assert_problem(api.post(path, nested, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"deep-{depth}"), 400)
        assert body["type"] == "malformed-request"
    assert Order.objects.count() == 0


def test_json_nested_as_deep_as_an_order_is_accepted(api):
    assert api.post("/api/v1/orders/", order_body(), format="json").status_code == 201


def test_a_lone_surrogate_with_an_idempotency_key_is_400_on_every_post(api, customer, catalog):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 5)])
    order = submitted_order(customer, po_number="PO-SURROGATE-0")
    posts = [
        ("/api/v1/orders/", '{"po_number": "PO-\\ud800", "lines": [{"sku": "SRA-1Y", "quantity": 1}]}'),
        ("/api/v1/orders/", '{"po_number": "PO-1", "lines": [{"sku": "SRA-1Y", "quantity": 1}], "notes": "\\udfff"}'),
        ("/api/v1/orders/", '{"po_number": "PO-2", "lines": [{"sku": "SRA-1Y", "quantity": 1}], "x\\ud800": 1}'),
        ("/api/v1/licenses/validate/", '{"key": "\\ud800"}'),
        (f"/api/v1/quotes/{quote.number}/accept/", '{"po_number": "\\ud800"}'),
        (f"/api/v1/orders/{order.number}/cancel/", '{"reason": "\\ud800"}'),
    ]
    for index, (path, raw) in enumerate(posts):
        response = api.post(path, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"surrogate-{index}")
        assert response.status_code < 500, (path, response.content)
        if response.status_code >= 400:
            assert response["Content-Type"] == PROBLEM
    # The third body is a valid order (the unknown field is ignored): 201, and its replay is the same.
    again = api.post("/api/v1/orders/", posts[2][1], content_type="application/json", HTTP_IDEMPOTENCY_KEY="surrogate-2")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert set(Order.objects.values_list("po_number", flat=True)) == {"PO-SURROGATE-0", "PO-2"}


def test_a_chunked_order_body_is_read(api):
    """As gunicorn passes it: no Content-Length, the chunks decoded, the stream terminated."""
    raw = json.dumps(order_body(po_number="PO-CHUNKED")).encode()

    response = api.generic(
        "POST", "/api/v1/orders/", b"", content_type="application/json",
        CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True},
    )

    assert response.status_code == 201, response.content
    assert Order.objects.get().po_number == "PO-CHUNKED"


def test_a_chunked_body_over_the_limit_is_413(api, settings):
    settings.API_MAX_BODY_BYTES = 1024
    raw = json.dumps(order_body(notes="x" * 2000)).encode()

    response = api.generic(
        "POST", "/api/v1/orders/", b"", content_type="application/json",
        CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True},
    )

    assert_problem(response, 413)
    assert Order.objects.count() == 0


def test_a_chunked_body_a_server_does_not_terminate_is_411(api):
    raw = json.dumps(order_body()).encode()

    response = api.generic(
        "POST", "/api/v1/orders/", b"", content_type="application/json",
        CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(raw)},
    )

    assert assert_problem(response, 411)["type"] == "length-required"
    assert Order.objects.count() == 0


# --- Through gunicorn, as in production -------------------------------------------------


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """gunicorn with gunicorn.conf.py (one worker), on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_workers(),
        "ORDERDESK_LOCAL": "1",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "METRICS_DIR": str(tmp_path / "metrics"),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "orderdesk.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gunicorn.log", "wb"),
    )

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return process.poll() is not None

    wait_for(answers, timeout=60, message="gunicorn to listen")
    assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
    yield port
    process.terminate()
    process.wait(timeout=30)
    take_published()  # the gather message of the orders submitted through it


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_a_chunked_order_through_gunicorn_is_201(gunicorn, customer, catalog):
    from licensing.models import ApiToken

    _token, key = ApiToken.objects.issue(customer=customer)
    raw = json.dumps(order_body(po_number="PO-CHUNKED-GUNICORN")).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (raw[:10], raw[10:])) + b"0\r\n\r\n"
    request = (
        b"POST /api/v1/orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Token " + key.encode() + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
    )

    status, _headers, body = _raw_exchange(gunicorn, request)

    assert status == 201, body
    assert Order.objects.get().po_number == "PO-CHUNKED-GUNICORN"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /api/v1/products/?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v1/products/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /api/v1/products/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n", 431),
        (b"GET /api/v1/products/ HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
        (b"GET /api/v1/products/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"POST /api/v1/orders/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
    ids=["request-line", "header-size", "header-count", "header-name", "folding", "chunk-size"],
)
def test_requests_gunicorn_refuses_are_answered_as_problems(gunicorn, request_bytes, status):
    answered, headers, body = _raw_exchange(gunicorn, request_bytes)

    assert answered == status
    assert headers["content-type"] == PROBLEM
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"] and problem["title"]
    assert b"<html" not in body
