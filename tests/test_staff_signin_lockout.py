"""Guessing a staff password is stopped: a user name is locked out from an address after a few wrong passwords."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from orderdesk.signin import client_address

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ATTACKER = "198.51.100.66"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every sign-in here checks a password: a deliberately slow hash would make this file take half a minute."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tanaka(db):
    user = User.objects.create_user(username="tanaka", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="order_desk")[0])
    return user


def sign_in(client, username, password, *, address=ATTACKER, path="/accounts/login/", **headers):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def fail_until_locked(client, username="tanaka", *, times=None, **kwargs):
    for _ in range(times or settings.AXES_FAILURE_LIMIT):
        sign_in(client, username, "wrong guess", **kwargs)


def test_twenty_wrong_passwords_then_the_right_one_is_refused(client, tanaka):
    fail_until_locked(client, times=20)

    response = sign_in(client, "tanaka", PASSWORD)

    assert response.status_code == 429
    assert "ログインが一時的にロックされています" in response.content.decode()
    assert not signed_in(client)


def test_a_few_typos_then_the_right_password_signs_in_and_forgets_the_typos(client, tanaka):
    fail_until_locked(client, times=settings.AXES_FAILURE_LIMIT - 1)

    assert sign_in(client, "tanaka", PASSWORD).status_code == 302
    assert signed_in(client)
    assert not AccessAttempt.objects.filter(username="tanaka").exists()


def test_the_lockout_holds_one_user_name_from_one_address(tanaka):
    User.objects.create_user(username="suzuki", password=PASSWORD)
    fail_until_locked(Client())

    assert sign_in(Client(), "tanaka", PASSWORD).status_code == 429
    # tanaka at their own desk, and a colleague behind the attacker's address, still sign in.
    assert sign_in(Client(), "tanaka", PASSWORD, address="203.0.113.10").status_code == 302
    assert sign_in(Client(), "suzuki", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_protected_too(client):
    User.objects.create_superuser("root", "root@example.jp", PASSWORD)
    fail_until_locked(client, "root", path="/admin/login/")

    assert sign_in(client, "root", PASSWORD, path="/admin/login/").status_code == 429
    assert client.get("/admin/").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, tanaka):
    fail_until_locked(client)
    assert sign_in(client, "tanaka", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert sign_in(client, "tanaka", PASSWORD).status_code == 302


def test_an_admin_unlocks_a_user_in_the_admin(client, tanaka):
    fail_until_locked(client)
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.jp", PASSWORD))
    attempts = admin.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200 and "tanaka" in attempts.content.decode()

    admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)), "post": "yes"},
    )

    assert sign_in(client, "tanaka", PASSWORD).status_code == 302


def test_an_admin_unlocks_a_user_from_the_command_line(client, tanaka):
    fail_until_locked(client)

    call_command("axes_reset_username", "tanaka")

    assert sign_in(client, "tanaka", PASSWORD).status_code == 302


def test_the_lockout_page_speaks_english_too(client, tanaka):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    fail_until_locked(client)

    page = sign_in(client, "tanaka", PASSWORD).content.decode()

    assert "Too many failed sign-ins" in page and f"{settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page


# --- Behind reverse proxies: which address an attempt came from -----------------------


def request_from(remote_addr, forwarded_for=None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return RequestFactory().post("/accounts/login/", REMOTE_ADDR=remote_addr, **headers)


def test_without_trusted_proxies_the_address_is_the_connections(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_address(request_from("10.0.0.5", "203.0.113.7")) == "10.0.0.5"


def test_behind_one_proxy_the_address_is_the_one_it_appended_whatever_the_client_sent(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_address(request_from("10.0.0.5", "203.0.113.7")) == "203.0.113.7"
    assert client_address(request_from("10.0.0.5", "1.2.3.4, 203.0.113.7")) == "203.0.113.7"
    assert client_address(request_from("10.0.0.5", "not-an-address")) == "10.0.0.5"
    assert client_address(request_from("10.0.0.5")) == "10.0.0.5"


def test_behind_two_proxies_the_address_is_the_second_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_address(request_from("10.0.0.5", "1.2.3.4, 203.0.113.7, 10.0.0.9")) == "203.0.113.7"


def test_a_client_cannot_dodge_the_lockout_by_inventing_forwarded_addresses(client, settings, tanaka):
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "tanaka", "wrong guess", address="10.0.0.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, {ATTACKER}")

    response = sign_in(client, "tanaka", PASSWORD, address="10.0.0.5", HTTP_X_FORWARDED_FOR=f"192.0.2.99, {ATTACKER}")

    assert response.status_code == 429


def test_each_failure_is_logged_for_the_admin(client, tanaka):
    from axes.models import AccessFailureLog

    sign_in(client, "tanaka", "wrong guess")

    assert list(AccessFailureLog.objects.values_list("username", "ip_address")) == [("tanaka", ATTACKER)]
