"""Who sees the control room: managers everything, the order desk the dashboard and the feed (read only), others nothing."""

import pytest
from django.contrib.auth.models import AnonymousUser  # noqa: F401 — the anonymous case goes through the client

from tests.factories import staff_user

pytestmark = pytest.mark.django_db

PAGES = ["/dashboard/", "/orders/", "/dashboard/digest/"]


@pytest.fixture
def signed_in(client):
    def sign_in(*roles):
        user = staff_user(f"user-{'-'.join(roles) or 'none'}", *roles)
        client.force_login(user)
        return user

    return sign_in


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", PAGES)
def test_a_manager_sees_every_page(client, signed_in, path):
    signed_in("manager")
    assert client.get(path).status_code == 200


def test_the_order_desk_sees_the_dashboard_and_the_feed_but_not_the_digest(client, signed_in):
    signed_in("order_desk")
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert client.get("/orders/").status_code == 200
    assert client.get("/dashboard/digest/").status_code == 403
    assert client.post("/dashboard/digest/send/", {"day": "2026-11-30"}).status_code == 403
    assert b"/dashboard/digest/" not in dashboard.content  # read only: no manager's actions offered


@pytest.mark.parametrize("role", ["helper", "sales", None])
@pytest.mark.parametrize("path", PAGES)
def test_helpers_sales_and_staff_without_a_role_are_refused(client, signed_in, role, path):
    signed_in(*([role] if role else []))
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("role", ["helper", "sales"])
def test_the_navigation_offers_the_control_room_only_to_those_who_may_use_it(client, signed_in, role):
    signed_in(role)
    assert b'href="/dashboard/"' not in client.get("/").content
    client.logout()
    signed_in("order_desk")
    page = client.get("/").content
    assert b'href="/dashboard/"' in page and b'href="/orders/"' in page
