"""Settings come from the environment and a bad value stops start-up loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from orderdesk.env import env_bool, env_choice, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parent.parent


def test_booleans_accept_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False


@pytest.mark.parametrize(
    ("helper", "value"),
    [(lambda: env_bool("FLAG", False), "ture"), (lambda: env_int("FLAG", 1), "ten"), (lambda: env_int("FLAG", 1, minimum=5), "2")],
)
def test_a_bad_value_raises_improperly_configured_naming_the_variable(monkeypatch, helper, value):
    monkeypatch.setenv("FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        helper()


def test_lists_and_choices(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("MODE", "sideways")
    with pytest.raises(ImproperlyConfigured, match="MODE"):
        env_choice("MODE", "down", {"down", "up"})


def run_check(**env):
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_django_refuses_to_start_with_a_bad_setting(tmp_path):
    result = run_check(TAX_ROUNDING="sometimes", ORDERDESK_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "TAX_ROUNDING" in result.stderr


def test_embedded_defaults_need_no_server(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY")}
    environment.update(ORDERDESK_VAR_DIR=str(tmp_path), ORDERDESK_LOCAL="1")
    code = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["django.db.backends.sqlite3", "filesystem://"]
    assert (tmp_path / "secret_key").exists()


# --- Secrets: given, or read from files; never made up on a production host ---------------

# What production sets (README: "Running in production"): no ORDERDESK_LOCAL, no DEBUG.
PRODUCTION_KEY = "k7Vq-" + "x2Lr9pWm4ZtB8nYc3HsQ6dJf1gKe5aUo0iRvTyXw7bNl" * 2
LOCAL_ONLY = ("ORDERDESK_LOCAL", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL_FILE", "EMAIL_HOST_PASSWORD_FILE")


def production_environment(tmp_path, **env) -> dict:
    """Production's settings, on a database, broker and cache of the test's own (never the suite's)."""
    environment = {k: v for k, v in os.environ.items() if k not in LOCAL_ONLY}
    environment.update(
        ORDERDESK_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="orderdesk.example.jp",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        CACHE_URL="locmem://",
    )
    environment.update(env)
    for name in [name for name in environment if name.endswith("_FILE")]:
        environment.pop(name.removesuffix("_FILE"), None)  # a secret from its file, not also from the variable
    return {k: v for k, v in environment.items() if v is not None}


def manage(environment, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def settings_in(environment, *names) -> list[str]:
    code = "from django.conf import settings as s; print(repr([getattr(s, n) for n in %r]))" % (names,)
    result = manage(environment, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 (our own repr of plain values)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage(production_environment(tmp_path, SECRET_KEY=None), "check")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr and "SECRET_KEY_FILE" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_an_empty_secret_key_is_no_secret_key(tmp_path):
    result = manage(production_environment(tmp_path, SECRET_KEY=""), "check")

    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_a_local_instance_keeps_one_generated_key_in_var(tmp_path):
    local = production_environment(tmp_path, SECRET_KEY=None, ORDERDESK_LOCAL="1")

    first = settings_in(local, "SECRET_KEY")
    second = settings_in(local, "SECRET_KEY")

    assert first == second == [(tmp_path / "var" / "secret_key").read_text().strip()]
    assert len(first[0]) >= 50


def test_scripts_run_and_test_start_a_local_instance():
    # Both serve or test over plain HTTP on this machine, without a SECRET_KEY of their own.
    for script in ("scripts/run", "scripts/test"):
        assert "export ORDERDESK_LOCAL=1" in (ROOT / script).read_text(), script


def test_secrets_are_read_from_files(tmp_path):
    (tmp_path / "key").write_text(PRODUCTION_KEY + "\n")
    (tmp_path / "db").write_text(f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n")
    (tmp_path / "mail").write_text("s3cret passphrase \n")
    environment = production_environment(
        tmp_path,
        SECRET_KEY_FILE=str(tmp_path / "key"),
        DATABASE_URL_FILE=str(tmp_path / "db"),
        EMAIL_HOST_PASSWORD_FILE=str(tmp_path / "mail"),
    )

    key, databases, password = settings_in(environment, "SECRET_KEY", "DATABASES", "EMAIL_HOST_PASSWORD")

    assert key == PRODUCTION_KEY
    assert databases["default"]["NAME"] == str(tmp_path / "from-file.sqlite3")
    assert password == "s3cret passphrase "  # the line ending goes, the secret's own characters stay


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"SECRET_KEY_FILE": "missing"}, "SECRET_KEY_FILE: cannot read"),
        ({"DATABASE_URL_FILE": "empty"}, "DATABASE_URL_FILE: '{tmp}/empty' is empty"),
        ({"EMAIL_HOST_PASSWORD_FILE": "empty"}, "EMAIL_HOST_PASSWORD_FILE: '{tmp}/empty' is empty"),
        ({"EMAIL_HOST_PASSWORD_FILE": "directory"}, "EMAIL_HOST_PASSWORD_FILE: cannot read"),
    ],
)
def test_a_secret_file_that_cannot_be_read_stops_start_up_naming_the_variable(tmp_path, files, message):
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "directory").mkdir()
    environment = production_environment(tmp_path, **{name: str(tmp_path / file) for name, file in files.items()})

    result = manage(environment, "check")

    assert result.returncode != 0
    assert message.format(tmp=tmp_path) in result.stderr


def test_a_secret_given_twice_is_refused(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from the file")
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))

    with pytest.raises(ImproperlyConfigured, match="Set SECRET_KEY or SECRET_KEY_FILE, not both"):
        env_secret("SECRET_KEY", "")


def test_a_secret_comes_from_the_environment_when_no_file_is_named(monkeypatch):
    monkeypatch.delenv("EMAIL_HOST_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("EMAIL_HOST_PASSWORD", "pw")

    assert env_secret("EMAIL_HOST_PASSWORD", "") == "pw"


# --- HTTPS: production's defaults, and manage.py check --deploy ------------------------------------

HTTPS_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
)


def test_production_defaults_to_https_behind_a_tls_terminating_proxy(tmp_path):
    assert settings_in(production_environment(tmp_path), *HTTPS_SETTINGS) == [
        True,
        True,
        True,
        365 * 24 * 60 * 60,
        True,
        ("HTTP_X_FORWARDED_PROTO", "https"),
    ]


def test_a_local_instance_serves_plain_http(tmp_path):
    local = production_environment(tmp_path, ORDERDESK_LOCAL="1")

    assert settings_in(local, *HTTPS_SETTINGS) == [False, False, False, 0, True, None]


def test_each_https_setting_can_be_given(tmp_path):
    environment = production_environment(
        tmp_path,
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="no",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="off",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme",
    )

    assert settings_in(environment, *HTTPS_SETTINGS) == [
        False,
        False,
        False,
        3600,
        False,
        ("HTTP_X_FORWARDED_SCHEME", "https"),
    ]
    assert settings_in(production_environment(tmp_path, SECURE_PROXY_SSL_HEADER=""), "SECURE_PROXY_SSL_HEADER") == [None]


def test_a_malformed_proxy_header_name_stops_start_up(tmp_path):
    result = manage(production_environment(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"), "check")

    assert result.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(production_environment(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_redirects_plain_http_and_sends_secure_cookies_and_hsts(tmp_path):
    """Through Django's whole middleware stack, as gunicorn behind the proxy sees requests."""
    code = """
from django.test import Client
client = Client(HTTP_HOST="orderdesk.example.jp")
plain = client.get("/accounts/login/")
print(plain.status_code, plain["Location"])
secure = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, HTTP_X_FORWARDED_PROTO="https")
print(secure.status_code, secure.cookies["django_language"]["secure"], secure["Strict-Transport-Security"])
print(client.get("/healthz").status_code)
"""
    environment = production_environment(tmp_path)
    assert manage(environment, "migrate", "-v", "0").returncode == 0
    result = manage(environment, "shell", "-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "301 https://orderdesk.example.jp/accounts/login/",
        "302 True max-age=31536000; includeSubDomains",
        "200",  # the load balancer's health probe over plain HTTP is not redirected
    ]
