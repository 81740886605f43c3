"""The licensing admin pages work for a person, and the ledger cannot be changed there."""

import pytest
from django.contrib.auth.models import User

from licensing.models import LicenseKey, SeatLedgerEntry, WorkHoursPolicy
from tests.factories import provision

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("boss", "boss@example.jp", "pw-not-used"))
    return client


@pytest.fixture
def entry(customer, catalog):
    return provision(customer, catalog["SRA-1Y"], 12, "order-line:7").entry


def test_subscription_pages_show_seats_and_the_ledger_read_only(admin_client, entry):
    changelist = admin_client.get("/admin/licensing/subscription/")
    change = admin_client.get(f"/admin/licensing/subscription/{entry.subscription_id}/change/")

    assert changelist.status_code == 200 and change.status_code == 200
    assert "order-line:7" in change.content.decode()
    assert 'name="ledger_entries-0-quantity"' not in change.content.decode()  # shown, not editable
    assert admin_client.get("/admin/licensing/subscription/add/").status_code == 403


def test_ledger_entries_cannot_be_added_changed_or_deleted_in_admin(admin_client, entry):
    assert admin_client.get("/admin/licensing/seatledgerentry/").status_code == 200
    assert admin_client.get("/admin/licensing/seatledgerentry/add/").status_code == 403
    response = admin_client.post(f"/admin/licensing/seatledgerentry/{entry.pk}/change/", {"quantity": 999})
    assert response.status_code == 403
    assert admin_client.post(f"/admin/licensing/seatledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SeatLedgerEntry.objects.get().quantity == 12


def test_license_keys_are_found_by_key_and_revoked_with_the_action(admin_client, entry):
    key = LicenseKey.objects.get()

    found = admin_client.get("/admin/licensing/licensekey/", {"q": key.key.lower()})
    assert key.key in found.content.decode()
    admin_client.post(
        "/admin/licensing/licensekey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )

    assert LicenseKey.objects.get().revoked_at is not None


def test_a_work_hours_policy_is_edited_on_the_customer_page(admin_client, customer):
    page = admin_client.get(f"/admin/licensing/customer/{customer.pk}/change/")
    assert page.status_code == 200 and 'name="work_hours_policy-__prefix__-working_days"' in page.content.decode()

    form = {
        "code": customer.code,
        "name": customer.name,
        "honorific": customer.honorific,
        "credit_limit": customer.credit_limit,
        "time_zone": "Asia/Tokyo",
        "is_active": "on",
        "work_hours_policy-TOTAL_FORMS": "1",
        "work_hours_policy-INITIAL_FORMS": "0",
        "work_hours_policy-0-is_active": "on",
        "work_hours_policy-0-mode": "block",
        "work_hours_policy-0-time_zone": "",
        "work_hours_policy-0-working_days": ["1", "2", "3", "4", "5", "6"],
        "work_hours_policy-0-start_time": "08:30",
        "work_hours_policy-0-end_time": "17:30",
        "work_hours_policy-0-public_holidays": "JP",
        "closed_periods-TOTAL_FORMS": "0",
        "closed_periods-INITIAL_FORMS": "0",
        "api_tokens-TOTAL_FORMS": "0",
        "api_tokens-INITIAL_FORMS": "0",
    }
    response = admin_client.post(f"/admin/licensing/customer/{customer.pk}/change/", form)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    policy = WorkHoursPolicy.objects.get(customer=customer)
    assert (policy.mode, policy.working_days, str(policy.start_time)) == ("block", [1, 2, 3, 4, 5, 6], "08:30:00")
