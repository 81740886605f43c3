"""Settings come from the environment and a bad value stops start-up loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from orderdesk.env import env_bool, env_choice, env_int, env_list

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
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    environment["ORDERDESK_VAR_DIR"] = str(tmp_path)
    code = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["django.db.backends.sqlite3", "filesystem://"]
    assert (tmp_path / "secret_key").exists()
