"""The intake benchmark's ceiling view exists only where bench/intake.py asks for it."""

from importlib import reload

import pytest
from django.urls import Resolver404, clear_url_caches, resolve

import orderdesk.urls


def _reload_urls():
    reload(orderdesk.urls)
    clear_url_caches()


def test_the_ceiling_view_is_not_routed_in_a_normal_deployment():
    with pytest.raises(Resolver404):
        resolve("/bench/ceiling/")
    with pytest.raises(Resolver404):
        resolve("/bench/json/")


def test_the_ceiling_view_is_routed_when_the_bench_sets_its_variable(monkeypatch):
    monkeypatch.setenv("ORDERDESK_BENCH_CEILING", "1")
    try:
        _reload_urls()
        assert resolve("/bench/ceiling/").url_name == "bench-ceiling"
        assert resolve("/bench/json/").url_name == "bench-json"
    finally:
        monkeypatch.delenv("ORDERDESK_BENCH_CEILING")
        _reload_urls()
    with pytest.raises(Resolver404):
        resolve("/bench/ceiling/")
