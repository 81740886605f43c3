"""/api/docs/ loads Swagger UI from our own static files (drf-spectacular-sidecar), nothing from a CDN."""

import re

from django.contrib.staticfiles import finders
from rest_framework.test import APIClient


def test_the_docs_page_refers_only_to_our_own_static_files():
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'"(/static/[^"]+)"', html)
    assert not [source for source in sources if source.startswith(("http:", "https:", "//"))], sources
    assets = sorted({source for source in sources if "drf_spectacular_sidecar" in source})
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/").split("?")[0]), f"{asset} is not among our static files"
