"""License validation: every decision code, and the work-hours policy (労務管理) at its boundaries."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from licensing.models import ClosedPeriod, Product, Subscription, WorkHoursPolicy
from licensing.selectors import LicenseDecision, license_validate
from licensing.services import license_key_revoke, seats_adjust
from tests.factories import provision
from tests.factories import CustomerFactory, ProductFactory, WorkHoursPolicyFactory

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 12, 7)
SATURDAY = date(2026, 12, 12)


def tokyo(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def licensed_key(customer, product, seats=10, reference="order-line:1"):
    """A key of a subscription running 2026-04-01 to 2027-03-31 with `seats` seats."""
    return provision(customer, product, seats, reference, term_start=date(2026, 4, 1)).license_key


@pytest.fixture
def key(customer, catalog):
    return licensed_key(customer, catalog["SRA-1Y"])


def validate(customer, key, at):
    return license_validate(customer=customer, key=key if isinstance(key, str) else key.key, at=at)


def test_a_key_inside_its_term_with_seats_and_no_policy_is_valid(customer, key):
    assert validate(customer, key, tokyo(SATURDAY, 3)) == LicenseDecision(valid=True, code="VALID", mode=None)


def test_a_key_that_does_not_exist_is_unknown(customer, key):
    assert validate(customer, "ABCD-EFGH-JKLM-NPQR-STUV", tokyo(MONDAY, 10)) == LicenseDecision(False, "UNKNOWN_KEY")


def test_another_customers_key_is_unknown_never_revealed(customer, other_customer, catalog):
    outsiders_key = licensed_key(other_customer, catalog["SRA-1Y"], reference="order-line:99")

    assert validate(customer, outsiders_key, tokyo(MONDAY, 10)) == LicenseDecision(False, "UNKNOWN_KEY")
    assert validate(other_customer, outsiders_key, tokyo(MONDAY, 10)).code == "VALID"


def test_a_key_typed_in_lower_case_with_spaces_is_recognised(customer, key):
    assert validate(customer, f"  {key.key.lower()} ", tokyo(MONDAY, 10)).code == "VALID"


def test_a_revoked_key_is_suspended(customer, key):
    license_key_revoke(license_key=key)

    assert validate(customer, key, tokyo(MONDAY, 10)) == LicenseDecision(False, "SUSPENDED")


def test_a_key_of_a_suspended_subscription_is_suspended(customer, key):
    Subscription.objects.filter(pk=key.subscription_id).update(status=Subscription.Status.SUSPENDED)

    assert validate(customer, key, tokyo(MONDAY, 10)) == LicenseDecision(False, "SUSPENDED")


def test_the_term_ends_at_midnight_japan_time_after_its_last_day(customer, key, settings):
    settings.LICENSE_EXPIRY_GRACE_DAYS = 0  # the grace period: tests/test_renewals.py
    assert validate(customer, key, tokyo(date(2027, 3, 31), 23, 59)).code == "VALID"
    assert validate(customer, key, tokyo(date(2027, 4, 1), 0, 0)) == LicenseDecision(False, "EXPIRED")
    # 2027-03-31 20:00 in New York is already April 1st in Japan.
    assert validate(customer, key, datetime(2027, 3, 31, 20, 0, tzinfo=NEW_YORK)).code == "EXPIRED"


def test_a_subscription_without_seats_left_is_at_its_seat_limit(customer, key):
    seats_adjust(subscription=key.subscription, quantity=-10, reference="correction:1", reason="all seats returned")

    assert validate(customer, key, tokyo(MONDAY, 10)) == LicenseDecision(False, "SEAT_LIMIT")


def test_an_addon_with_more_seats_than_its_base_is_at_its_seat_limit(customer, catalog):
    base_key = licensed_key(customer, catalog["SRA-1Y"], seats=5, reference="order-line:1")
    addon_key = licensed_key(customer, catalog["RDA-1Y"], seats=5, reference="order-line:2")
    assert validate(customer, addon_key, tokyo(MONDAY, 10)).code == "VALID"

    seats_adjust(subscription=base_key.subscription, quantity=-1, reference="correction:1", reason="one user left")

    assert validate(customer, addon_key, tokyo(MONDAY, 10)) == LicenseDecision(False, "SEAT_LIMIT")
    assert validate(customer, base_key, tokyo(MONDAY, 10)).code == "VALID"


def test_an_addon_family_is_judged_against_every_term_of_its_base_family(customer, catalog):
    sra_3y = ProductFactory(sku="SRA-3Y", family="SRA", kind=Product.Kind.BASE, term_months=36)
    rda_3y = ProductFactory(sku="RDA-3Y", family="RDA", kind=Product.Kind.ADDON, base_family="SRA", term_months=36)
    licensed_key(customer, catalog["SRA-1Y"], seats=2, reference="order-line:1")
    three_year_key = licensed_key(customer, sra_3y, seats=3, reference="order-line:2")
    addon_key = licensed_key(customer, catalog["RDA-1Y"], seats=4, reference="order-line:3")
    licensed_key(customer, rda_3y, seats=1, reference="order-line:4")
    # RDA-1Y and RDA-3Y together (5) against SRA-1Y and SRA-3Y together (5).
    assert validate(customer, addon_key, tokyo(MONDAY, 10)).code == "VALID"

    seats_adjust(subscription=three_year_key.subscription, quantity=-1, reference="correction:1", reason="one user left")

    assert validate(customer, addon_key, tokyo(MONDAY, 10)) == LicenseDecision(False, "SEAT_LIMIT")
    assert validate(customer, three_year_key, tokyo(MONDAY, 10)).code == "VALID"


def test_a_revoked_key_after_its_term_answers_suspended_first(customer, key):
    license_key_revoke(license_key=key)

    assert validate(customer, key, tokyo(date(2027, 6, 1), 10)).code == "SUSPENDED"


def test_an_expired_key_outside_working_hours_answers_expired_first(customer, key):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK)

    assert validate(customer, key, tokyo(date(2027, 6, 5), 22)).code == "EXPIRED"


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        (tokyo(MONDAY, 8, 59), False),
        (tokyo(MONDAY, 9, 0), True),  # the start is inclusive
        (tokyo(MONDAY, 17, 59), True),
        (tokyo(MONDAY, 18, 0), False),  # the end is exclusive
        (tokyo(SATURDAY, 10, 0), False),  # not a working day
        (datetime(2026, 12, 7, 0, 0, tzinfo=ZoneInfo("UTC")), True),  # 09:00 Monday in Tokyo
    ],
)
def test_working_hours_boundaries_in_the_policys_time_zone(customer, key, at, inside):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.WARN)

    expected = LicenseDecision(True, "VALID") if inside else LicenseDecision(True, "OUTSIDE_WORKING_HOURS", "warn")
    assert validate(customer, key, at) == expected


def test_outside_working_hours_in_block_mode_is_not_valid(customer, key):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK)

    assert validate(customer, key, tokyo(MONDAY, 18)) == LicenseDecision(False, "OUTSIDE_WORKING_HOURS", "block")
    assert validate(customer, key, tokyo(MONDAY, 17, 59)) == LicenseDecision(True, "VALID")


def test_an_inactive_policy_is_ignored(customer, key):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK, is_active=False)

    assert validate(customer, key, tokyo(SATURDAY, 3)).code == "VALID"


def test_a_policy_without_a_time_zone_uses_the_customers(catalog):
    new_yorker = CustomerFactory(code="NYC", time_zone="America/New_York")
    key = licensed_key(new_yorker, catalog["SRA-1Y"])
    WorkHoursPolicyFactory(customer=new_yorker, time_zone="", mode=WorkHoursPolicy.Mode.BLOCK)

    # Monday 09:30 in New York is Monday 23:30 in Tokyo: inside New York's hours.
    assert validate(new_yorker, key, datetime(2026, 12, 7, 9, 30, tzinfo=NEW_YORK)).code == "VALID"
    # Monday 10:00 in Tokyo is Sunday 20:00 in New York: outside.
    assert validate(new_yorker, key, tokyo(MONDAY, 10)) == LicenseDecision(False, "OUTSIDE_WORKING_HOURS", "block")


def test_a_policy_time_zone_overrides_the_customers(catalog):
    new_yorker = CustomerFactory(code="NYC", time_zone="America/New_York")
    key = licensed_key(new_yorker, catalog["SRA-1Y"])
    WorkHoursPolicyFactory(customer=new_yorker, time_zone="Asia/Tokyo")

    assert validate(new_yorker, key, tokyo(MONDAY, 10)).code == "VALID"


def test_a_time_without_an_offset_is_read_as_japan_time(customer, key):
    WorkHoursPolicyFactory(customer=customer)

    assert validate(customer, key, datetime(2026, 12, 7, 9, 0)).code == "VALID"
    assert validate(customer, key, datetime(2026, 12, 7, 8, 59)).code == "OUTSIDE_WORKING_HOURS"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"working_days": []}, "working_days"),
        ({"working_days": [1, 8]}, "working_days"),
        ({"working_days": [1, 1]}, "working_days"),
        ({"working_days": "Mon-Fri"}, "working_days"),
        ({"time_zone": "Tokyo/Osaka"}, "time_zone"),
        ({"start_time": time(9, 0), "end_time": time(9, 0)}, "end_time"),
        ({"public_holidays": "XX"}, "public_holidays"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(customer, fields, bad_field):
    policy = WorkHoursPolicy(customer=customer, **fields)

    with pytest.raises(ValidationError) as error:
        policy.full_clean()

    assert bad_field in error.value.message_dict


def test_seed_demo_gives_demo2_a_weekday_office_hours_policy_once():
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")

    policy = WorkHoursPolicy.objects.get()
    assert policy.customer.code == "DEMO2"
    assert (policy.mode, policy.zone, policy.working_days) == ("warn", TOKYO, [1, 2, 3, 4, 5])
    assert (policy.start_time, policy.end_time, policy.public_holidays) == (time(9, 0), time(18, 0), "JP")
    assert sorted(policy.customer.closed_periods.values_list("name", flat=True)) == ["お盆", "年末年始"]
    assert not Subscription.objects.exists()  # seats come from the pipeline, not from seed data


def test_validating_an_addon_key_under_a_policy_takes_one_query(customer, catalog, django_assert_num_queries):
    licensed_key(customer, catalog["SRA-1Y"], seats=5, reference="order-line:1")
    addon_key = licensed_key(customer, catalog["RDA-1Y"], seats=5, reference="order-line:2")
    WorkHoursPolicyFactory(customer=customer)
    ClosedPeriod.objects.create(customer=customer, name="年末年始", first_day=date(2026, 12, 29), last_day=date(2027, 1, 3))

    with django_assert_num_queries(1):  # the key with its seats, the base's seats, the policy and its closed periods
        assert validate(customer, addon_key, tokyo(MONDAY, 10)).code == "VALID"
    with django_assert_num_queries(1):
        assert validate(customer, addon_key, tokyo(date(2026, 12, 29), 10)).code == "OUTSIDE_WORKING_HOURS"


def test_a_policy_or_closed_day_edited_applies_to_the_very_next_validation(customer, key):
    """Calendars are built once per process, but from what each validation reads: an edit is never stale."""
    policy = WorkHoursPolicyFactory(customer=customer, working_days=[1, 2, 3, 4, 5], start_time=time(9), end_time=time(18))
    assert validate(customer, key, tokyo(MONDAY, 19)).code == "OUTSIDE_WORKING_HOURS"

    policy.end_time = time(20)
    policy.save()
    assert validate(customer, key, tokyo(MONDAY, 19)).code == "VALID"

    ClosedPeriod.objects.create(customer=customer, name="臨時休業", first_day=MONDAY, last_day=MONDAY, every_year=False)
    assert validate(customer, key, tokyo(MONDAY, 19)).code == "OUTSIDE_WORKING_HOURS"

    policy.working_days = [6, 7]
    policy.save()
    ClosedPeriod.objects.filter(customer=customer).delete()
    assert validate(customer, key, tokyo(MONDAY, 19)).code == "OUTSIDE_WORKING_HOURS"
    assert validate(customer, key, tokyo(SATURDAY, 19)).code == "VALID"
