"""The README's first command: `scripts/run` with nothing configured (SQLite, the filesystem broker,
the file cache) serves the API and completes an order, end to end, over HTTP."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workers import PROJECT_DIR, free_port, wait_for

pytestmark = pytest.mark.slow

# What scripts/run may not inherit from a test run pointed at PostgreSQL and Redis: it must start embedded.
SERVICE_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "ORDERDESK_VAR_DIR", "ORDERDESK_LOCAL", "SECRET_KEY")


@dataclass
class Embedded:
    base: str  # http://127.0.0.1:<port>
    token: str  # the demo token scripts/run printed
    process: subprocess.Popen  # scripts/run, leader of its own process group
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def embedded(tmp_path):
    """scripts/run in its own process group (as a terminal runs it), with a fresh var/."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(PORT=str(port), ORDERDESK_VAR_DIR=str(tmp_path / "var"))
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(PROJECT_DIR / "scripts" / "run")], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    stack = Embedded(base=f"http://127.0.0.1:{port}", token="", process=process, log_path=log_path)
    try:
        wait_for(
            lambda: "Demo API token" in stack.output() and _answers(port), timeout=240, interval=0.5, message="scripts/run to start"
        )
        stack.token = stack.output().split("Demo API token for customer DEMO1:")[1].split()[0]
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a person stops it
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", f"Token {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
        request.add_header("Idempotency-Key", str(uuid.uuid4()))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
            return response.status, dict(response.headers), content
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_scripts_run_with_nothing_configured_completes_an_order_through_the_api(embedded):
    base, token = embedded.base, embedded.token
    body = {"po_number": "PO-EMBEDDED-1", "lines": [{"sku": "SRA-1Y", "quantity": 25}, {"sku": "RDA-1Y", "quantity": 10}]}

    status, _headers, content = call(base, token, "POST", "/api/v1/orders/", body)

    assert status == 201, content
    number = json.loads(content)["number"]

    def completed():
        detail = json.loads(call(base, token, "GET", f"/api/v1/orders/{number}/")[2])
        return detail if detail["status"] == "completed" else None

    detail = wait_for(completed, timeout=120, interval=1, message=f"order {number} to complete in the embedded stack")
    assert [event["to_status"] for event in detail["events"] if event["to_status"]] == [
        "received", "validated", "approved", "provisioning", "documenting", "completed",
    ]  # fmt: skip
    assert sorted((item["sku"], item["seats"]) for item in detail["licenses"]) == [("RDA-1Y", 10), ("SRA-1Y", 25)]
    pdf_status, pdf_headers, pdf = call(base, token, "GET", f"/api/v1/orders/{number}/documents/quote.pdf")
    assert pdf_status == 200 and pdf_headers["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF")
    assert "Traceback" not in embedded.output()


def test_scripts_run_stops_every_process_on_ctrl_c(embedded):
    group = embedded.process.pid

    os.killpg(group, signal.SIGINT)  # what a terminal sends the foreground group on Ctrl-C

    assert embedded.process.wait(timeout=30) is not None
    wait_for(lambda: not _group_alive(group), timeout=30, interval=0.2, message="the web server and the worker to exit")
    assert "Stopping Orderdesk" in embedded.output()
    assert not _answers(int(embedded.base.rsplit(":", 1)[1]))


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
