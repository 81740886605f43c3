import os
import shutil

import pytest
from django.db import connection
from rest_framework.test import APIClient

from licensing.models import ApiToken, Product
from tests.factories import CustomerFactory, PriceTierFactory, ProductFactory

# CI sets this so that a test needing PostgreSQL, Redis, Chromium or poppler
# fails instead of skipping when the service is missing.
REQUIRE_SERVICES = os.environ.get("ORDERDESK_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ORDERDESK_REQUIRE_SERVICES=1: CI must not skip this)")
    pytest.skip(reason)


@pytest.fixture
def requires_postgres(db):
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://…")


@pytest.fixture
def requires_tool():
    def check(name: str):
        if shutil.which(name) is None:
            skip_or_fail(f"needs the {name} program")

    return check


@pytest.fixture
def catalog(db):
    """The two demo products with their volume tiers."""
    sra = ProductFactory(sku="SRA-1Y", family="SRA", name_ja="セキュアリモートアクセス 1年ライセンス", kind=Product.Kind.BASE)
    rda = ProductFactory(
        sku="RDA-1Y", family="RDA", name_ja="リモートデスクトップ アドオン 1年ライセンス", kind=Product.Kind.ADDON, base_family="SRA"
    )
    for product, tiers in ((sra, [(1, 6000), (50, 5400), (100, 4800)]), (rda, [(1, 3000), (50, 2700), (100, 2400)])):
        for min_quantity, unit_price in tiers:
            PriceTierFactory(product=product, min_quantity=min_quantity, unit_price=unit_price)
    return {"SRA-1Y": sra, "RDA-1Y": rda}


@pytest.fixture
def customer(db):
    return CustomerFactory(code="OWNER", name="株式会社オーナー")


@pytest.fixture
def other_customer(db):
    return CustomerFactory(code="OUTSIDER", name="株式会社アウトサイダー")


def client_for(customer) -> APIClient:
    _token, raw_key = ApiToken.objects.issue(customer=customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


@pytest.fixture
def api(customer, catalog) -> APIClient:
    """The owner's purchasing system."""
    return client_for(customer)


@pytest.fixture
def colleague_api(customer, catalog) -> APIClient:
    """A second system of the same customer, with its own token."""
    return client_for(customer)


@pytest.fixture
def outsider_api(other_customer, catalog) -> APIClient:
    return client_for(other_customer)


def order_body(po_number="PO-2026-0412", lines=None, **extra) -> dict:
    body = {
        "po_number": po_number,
        "lines": lines if lines is not None else [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 50}],
        "notes": "在宅勤務者追加分",
    }
    body.update(extra)
    return body


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Production serves hashed files from collectstatic's manifest; tests read the sources directly."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache; each test starts with a fresh allowance."""
    from django.core.cache import cache

    cache.clear()
    yield


# --- The pipeline's queue and the gather message's de-duplication key (orders.services.queueing) ---

GATHER = "orders.tasks.gather_received_orders"


def take_published() -> list[str]:
    """The names of the tasks waiting in the pipeline queue, taken off it."""
    from orderdesk.celery import app as celery_app

    names = []
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get("pipeline", no_ack=True)) is not None:
            names.append(message.headers["task"])
    return names


@pytest.fixture
def shared_cache(settings, tmp_path):
    """A cache that every process on the machine shares, as Redis or the embedded mode's file cache is."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "cache")}
    }
    take_published()  # what earlier tests left in the queue
