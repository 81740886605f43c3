#!/usr/bin/env python3
"""The API against its own OpenAPI schema with schemathesis, as a customer's purchasing system, in bounded time.

Usage (from the project root, after scripts/test or .ci/run made .venv):

    .venv/bin/python .ci/schemathesis_run.py [--max-time 120] [--database-url postgres://…/orderdesk_ci]

What it does:

1. Creates a database of its own beside --database-url (its name + "_schemathesis";
   dropped first if it exists, and at the end), runs migrate, seed_demo and
   issue_token DEMO1.
2. Starts gunicorn with gunicorn.conf.py on a free loopback port, on that database,
   with the embedded broker and cache under a temporary directory (no worker runs:
   orders stay `received`) and a rate limit far above the run's.
3. Runs `schemathesis run` against /api/schema/ with DEMO1's token: every check
   (no 5xx, status codes, content types, headers and bodies as documented,
   schema-valid requests accepted, schema-violating ones refused, …) plus
   .ci/schemathesis_hooks.py's (every error is problem+json, in Japanese without
   Accept-Language; positive data accepted, except order bodies naming a SKU
   twice, a rule JSON Schema cannot state), in every phase
   (examples, coverage, fuzzing, stateful), for at most --max-time seconds.
   One worker: hypothesis is not thread-safe on Python 3.11.

Exit status: schemathesis's (0: no failure). The JUnit report goes to
$ORDERDESK_ARTIFACTS/schemathesis.xml when that is set.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderdesk"))
    parser.add_argument("--max-time", type=int, default=120, help="seconds schemathesis may spend (default 120)")
    parser.add_argument("--seed", help="schemathesis's seed, to repeat a run")
    args = parser.parse_args()

    url = urlsplit(args.database_url)
    if url.scheme not in ("postgres", "postgresql"):
        parser.error("--database-url must be a PostgreSQL URL")
    name = url.path.lstrip("/") + "_schemathesis"
    database_url = urlunsplit(url._replace(path="/" + name))
    _recreate(args.database_url, name)
    var_dir = Path(tempfile.mkdtemp(prefix="orderdesk-schemathesis-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ORDERDESK_LOCAL": "1",
        "ORDERDESK_VAR_DIR": str(var_dir),
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "locmem://",
        "API_RATE_LIMIT": "1000000/min",
        "METRICS_DIR": str(var_dir / "metrics"),
        "WEB_CONCURRENCY": "2",
    }
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run(
        [*manage, "issue_token", "DEMO1"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip().splitlines()[-1]

    port = _free_port()
    log = open(var_dir / "gunicorn.log", "wb")
    gunicorn = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "orderdesk.wsgi", "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", gunicorn)
        command = [
            str(VENV_BIN / "schemathesis"), "--config-file", str(ROOT / ".ci" / "schemathesis.toml"),
            "run", f"{base}/api/schema/",
            "--checks", "all",
            "--exclude-checks", "positive_data_acceptance",  # schemathesis_hooks.positive_data_accepted instead
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-time", str(args.max_time),
            "--workers", "1",
            "--request-timeout", "30",
            "--no-color",
        ]
        if args.seed:
            command += ["--seed", args.seed]
        artifacts = os.environ.get("ORDERDESK_ARTIFACTS")
        if artifacts:
            Path(artifacts).mkdir(parents=True, exist_ok=True)
            command += ["--report", "junit", "--report-dir", artifacts]
        hooks_env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "PYTHONPATH": str(ROOT / ".ci"),
            "ORDERDESK_SCHEMATHESIS_TOKEN": token,  # schemathesis.toml gives it to the schema's customerToken scheme
        }
        print(f"== schemathesis against {base}/api/schema/ on {name}, at most {args.max_time} s", flush=True)
        return subprocess.run(command, cwd=ROOT, env=hooks_env).returncode
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        log.close()
        _drop(args.database_url, name)


def _admin_connection(database_url: str):
    import psycopg

    url = urlsplit(database_url)
    return psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True)


def _recreate(database_url: str, name: str) -> None:
    with _admin_connection(database_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _drop(database_url: str, name: str) -> None:
    with _admin_connection(database_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {url} within 60 s")


if __name__ == "__main__":
    sys.exit(main())
