"""Staff pages need a signed-in user with the right role; /admin/ only a superuser."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.http import HttpResponse
from django.test import RequestFactory

from orderdesk.roles import ALL_ROLES, has_role, role_required

pytestmark = pytest.mark.django_db


def make_user(username, *roles, **extra):
    user = User.objects.create_user(username=username, password="pw-for-tests", **extra)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@role_required("manager")
def managers_only(request):
    return HttpResponse("ok")


def call(user):
    request = RequestFactory().get("/somewhere/")
    request.user = user
    return managers_only(request)


def test_anonymous_user_is_sent_to_sign_in(client):
    from django.contrib.auth.models import AnonymousUser

    response = call(AnonymousUser())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/").status_code == 302


def test_user_with_the_role_passes_and_other_roles_get_403():
    from django.core.exceptions import PermissionDenied

    assert call(make_user("boss", "manager")).status_code == 200
    with pytest.raises(PermissionDenied):
        call(make_user("seller", "sales"))


def test_superuser_has_every_role_and_inactive_users_none():
    admin = make_user("root", is_superuser=True)
    assert all(has_role(admin, role) for role in ALL_ROLES)
    sleeper = make_user("gone", "manager", is_active=False)
    assert not has_role(sleeper, "manager")


def test_staff_pages_are_japanese_by_default_even_for_an_english_browser(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert page.status_code == 200
    assert 'lang="ja"' in page.content.decode()
    assert "ログイン" in page.content.decode()
    make_user("tanaka", "order_desk")
    client.post("/accounts/login/", {"username": "tanaka", "password": "pw-for-tests"})
    assert client.get("/").status_code == 200


def test_the_language_switcher_turns_staff_pages_english(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    page = client.get("/accounts/login/")
    assert 'lang="en"' in page.content.decode()
    assert "Sign in" in page.content.decode()


def test_the_api_follows_the_clients_accept_language(client):
    english = client.get("/api/v1/orders/", HTTP_ACCEPT_LANGUAGE="en")
    japanese = client.get("/api/v1/orders/", HTTP_ACCEPT_LANGUAGE="ja")
    assert english.json()["detail"] == "Authentication credentials were not provided."
    assert english.json()["detail"] != japanese.json()["detail"]


# --- /admin/ is for superusers only (orderdesk.roles.may_open_admin) -------------------------------


def refused_by_the_admin(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_superuser_opens_the_admin(client):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/licensing/customer/").status_code == 200
    assert 'href="/admin/"' in client.get("/").content.decode()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_no_role_opens_the_admin_even_with_staff_status(client, role):
    client.force_login(make_user(f"{role}-with-staff-status", role, is_staff=True))

    assert refused_by_the_admin(client.get("/admin/"))
    assert refused_by_the_admin(client.get("/admin/licensing/apitoken/"))
    assert refused_by_the_admin(client.get("/admin/auth/user/"))
    assert 'href="/admin/"' not in client.get("/").content.decode()


def test_an_inactive_superuser_and_an_anonymous_visitor_are_refused(client):
    assert refused_by_the_admin(client.get("/admin/"))
    client.force_login(make_user("retired", is_staff=True, is_superuser=True, is_active=False))
    assert refused_by_the_admin(client.get("/admin/"))


def test_a_role_user_signing_in_on_the_admin_page_is_not_let_in(client):
    make_user("boss", "manager", is_staff=True)

    response = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "pw-for-tests", "next": "/admin/"})

    assert response.status_code == 200  # the admin's sign-in form again, with its error
    assert refused_by_the_admin(client.get("/admin/"))


def test_the_demo_manager_cannot_open_the_admin_and_the_demo_admin_can(client):
    call_command("seed_demo", stdout=io.StringIO())

    client.force_login(User.objects.get(username="manager"))
    assert refused_by_the_admin(client.get("/admin/"))
    client.force_login(User.objects.get(username="admin"))
    assert client.get("/admin/").status_code == 200
