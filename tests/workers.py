"""Real Celery workers and private Redis servers for the pipeline tests.

A worker is `celery -A orderdesk worker` in a subprocess, pointed at the test
database (pytest-django's `test_<name>` on PostgreSQL, the test database's file
on SQLite) and at a broker (Redis, or the embedded mode's filesystem broker
under ORDERDESK_VAR_DIR, which the test process shares). A private
redis-server runs on a free port with no persistence, so a test may kill and
restart it without touching the shared Redis.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from kombu import pools as kombu_pools
from django.db import connection

from orderdesk.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def wait_for(condition, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# 180 s: on the embedded stack (SQLite, the filesystem broker polling once a second) late in a
# full suite an order took over 60 s to complete twice (the same tests alone: 47 s for all ten).
def wait_for_status(number: str, status: str, timeout: float = 180):
    from orders.models import Order

    def reached():
        order = Order.objects.get(number=number)
        return order if order.status == status else None

    return wait_for(reached, timeout=timeout, message=f"order {number} to be {status}")


def submit(api, **body) -> str:
    """POST an order through the API; its number."""
    from tests.conftest import order_body

    response = api.post("/api/v1/orders/", data=order_body(**body), format="json")
    assert response.status_code == 201, response.content
    return response.json()["number"]


def database_url_for_workers() -> str:
    """The URL of the database the tests run on, for processes started by a test (SQLite: its file)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, on a free loopback port, memory only."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, message=f"redis-server on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: everything in its memory, queued messages included, is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def queued(self, queue: str) -> int:
        """Messages waiting in the queue, over all its priority lists (kombu names them queue, queue\x06\x169, …)."""
        keys = [key for key in self._cli("--scan", "--pattern", f"{queue}*").splitlines() if key]
        return sum(int(self._cli("LLEN", key) or 0) for key in keys)

    def _answers(self) -> bool:
        return self._cli("PING") == "PONG"

    def _cli(self, *args: str) -> str:
        result = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=5, check=False
        )
        return result.stdout.strip()


class Worker:
    """One `celery worker` process (prefork), by default on the pipeline and documents queues."""

    def __init__(self, *, broker_url: str, log_dir: Path, concurrency: int = 2, beat: bool = False, env: dict | None = None,
                 queues: str = "pipeline,documents"):  # fmt: skip
        self.broker_url = broker_url
        self.queues = queues
        self.concurrency = concurrency
        self.beat = beat
        self.extra_env = env or {}
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{self.name}.log"
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_workers(),
            "CELERY_BROKER_URL": self.broker_url,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            # The test's own cache: the gather message's de-duplication key (orders.services.queueing) is a key
            # that the test process sets and the worker clears, so both must see the same one.
            "CACHE_URL": settings.CACHE_URL,
            # Short enough for a test to watch the sweeper work.
            "ORDER_STUCK_AFTER_SECONDS": "2",
            "ORDER_SWEEP_INTERVAL_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        command = [
            CELERY, "-A", "orderdesk", "worker", "--pool", "prefork", "--concurrency", str(self.concurrency),
            "--queues", self.queues, "--hostname", f"{self.name}@%h", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        if self.beat:
            command += ["--beat", "--schedule", str(self.log_dir / f"{self.name}-beat-schedule")]
        with open(self.log_path, "wb") as log:
            # Its own session, so the whole worker (pool and beat included) can be killed as one group.
            self.process = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(self._ready, timeout=60, interval=0.2, message=f"worker {self.name} to be ready")
        return self

    def pool_processes(self) -> list[int]:
        """PIDs of the worker's child processes (the prefork pool, and beat when embedded)."""
        return [pid for pid in _children(self.process.pid)]

    def kill_child(self) -> int:
        """SIGKILL the one pool process (use concurrency=1 and no beat): the process running the task."""
        children = self.pool_processes()
        assert len(children) == 1, f"expected one pool process, found {children}"
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def kill(self) -> None:
        """SIGKILL the whole worker: main process, pool and beat, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        # The pool processes can outlive the main one for a moment, each with
        # its database connection open; the test database cannot be dropped
        # while they hold it.
        if not _group_gone(self.process.pid, timeout=10):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        return " ready." in self.log()


def _group_gone(group_id: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group_id, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _children(parent_pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the ppid follows the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            children.append(int(entry.name))
    return children


@contextlib.contextmanager
def publishing_to(broker_url: str):
    """Point this (test) process's Celery app at another broker for the duration."""
    saved = celery_app.conf.broker_url, celery_app.conf.broker_write_url

    def reset_pools():
        # kombu keeps connection and producer pools in a process-wide registry
        # keyed by URL: clear it, or a closed pool would be handed out again later.
        kombu_pools.reset()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    reset_pools()
    saved_options = celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = broker_url
    if not broker_url.startswith("filesystem://"):
        celery_app.conf.broker_transport_options = {**saved_options, **settings.NETWORK_BROKER_TRANSPORT_OPTIONS}
    try:
        yield
    finally:
        reset_pools()
        celery_app.conf.broker_url, celery_app.conf.broker_write_url = saved
        celery_app.conf.broker_transport_options = saved_options


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None
