"""A staff user's language choice is kept: it follows them to other browsers and decides their e-mail's language."""

import pytest
from django.test import Client

from orderdesk.models import UserPreference
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


def test_switching_language_when_signed_in_keeps_it_as_the_users_preference(client):
    user = staff_user("smith", "manager")
    client.force_login(user)

    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert UserPreference.objects.get(user=user).language == "en"
    assert 'lang="en"' in client.get("/").content.decode()


def test_the_preference_applies_at_sign_in_on_another_browser(client):
    user = staff_user("smith", "manager", password="pw-for-tests")
    UserPreference.objects.create(user=user, language="en")
    other_browser = Client()

    other_browser.post("/accounts/login/", {"username": "smith", "password": "pw-for-tests"})

    assert 'lang="en"' in other_browser.get("/").content.decode()


def test_without_a_preference_staff_pages_stay_japanese(client):
    client.force_login(staff_user("sato", "manager"))
    assert 'lang="ja"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_switching_before_signing_in_stores_nothing(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert not UserPreference.objects.exists()


def test_an_unknown_language_changes_nothing(client):
    user = staff_user("smith", "manager")
    client.force_login(user)
    client.post("/i18n/setlang/", {"language": "klingon", "next": "/"})
    assert not UserPreference.objects.filter(user=user).exists()
    assert 'lang="ja"' in client.get("/").content.decode()
