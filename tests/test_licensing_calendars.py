"""Work-hours calendars: public holidays, the company's closed days, shifts across midnight, other time zones."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from licensing.calendars import public_holiday_name
from licensing.models import ClosedPeriod, Subscription, WorkHoursPolicy
from licensing.selectors import license_validate
from tests.factories import CustomerFactory, WorkHoursPolicyFactory, provision

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def at(day: date, hour: int, minute: int = 0, zone=TOKYO) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


@pytest.fixture
def licensed(catalog):
    """Returns a function: the code a customer's key validates to at a moment (a 2026-04-01 term of 3 years)."""

    def code_at(customer, moment: datetime) -> str:
        provisioned = provision(customer, catalog["SRA-1Y"], 5, f"order-line:{customer.code}", term_start=date(2026, 4, 1))
        Subscription.objects.filter(pk=provisioned.entry.subscription_id).update(term_end=date(2029, 3, 31))
        return license_validate(customer=customer, key=provisioned.license_key.key, at=moment).code

    return code_at


def test_new_years_day_2027_is_outside_working_hours(customer, licensed):
    WorkHoursPolicyFactory(customer=customer)  # Mon–Fri 9–18 Tokyo, Japanese holidays

    assert date(2027, 1, 1).isoweekday() == 5  # a Friday, a working day but for the holiday
    assert licensed(customer, at(date(2027, 1, 1), 10)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(customer, at(date(2027, 1, 4), 10)) == "VALID"


def test_japanese_holidays_come_from_the_holidays_package_with_substitutes_and_equinoxes(customer, licensed):
    WorkHoursPolicyFactory(customer=customer)

    assert public_holiday_name("JP", date(2027, 1, 1)) == "元日"
    assert public_holiday_name("JP", date(2027, 3, 22)) is not None  # 振替休日 for the equinox on Sunday the 21st
    assert licensed(customer, at(date(2027, 3, 22), 10)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(customer, at(date(2026, 9, 22), 10)) == "OUTSIDE_WORKING_HOURS"  # 国民の休日 between two holidays


def test_a_policy_without_public_holidays_works_on_them(customer, licensed):
    WorkHoursPolicyFactory(customer=customer, public_holidays="")

    assert licensed(customer, at(date(2027, 1, 1), 10)) == "VALID"


def test_a_company_closed_period_every_year_is_outside_working_hours(customer, licensed):
    WorkHoursPolicyFactory(customer=customer)
    ClosedPeriod.objects.create(customer=customer, name="年末年始", first_day=date(2026, 12, 29), last_day=date(2027, 1, 3))

    assert licensed(customer, at(date(2026, 12, 28), 10)) == "VALID"  # Monday, before the break
    assert licensed(customer, at(date(2026, 12, 29), 10)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(customer, at(date(2027, 12, 30), 10)) == "OUTSIDE_WORKING_HOURS"  # the next year's break too
    assert licensed(customer, at(date(2027, 1, 4), 10)) == "VALID"


def test_a_one_off_closed_period_applies_to_its_own_dates_only(customer, licensed):
    WorkHoursPolicyFactory(customer=customer)
    ClosedPeriod.objects.create(
        customer=customer, name="お盆", first_day=date(2027, 8, 12), last_day=date(2027, 8, 16), every_year=False
    )

    assert licensed(customer, at(date(2027, 8, 12), 10)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(customer, at(date(2026, 8, 12), 10)) == "VALID"


def test_another_customers_closed_days_do_not_count(customer, other_customer, licensed):
    WorkHoursPolicyFactory(customer=customer)
    ClosedPeriod.objects.create(customer=other_customer, name="創立記念日", first_day=date(2026, 12, 7), last_day=date(2026, 12, 7))

    assert licensed(customer, at(date(2026, 12, 7), 10)) == "VALID"


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (at(date(2026, 12, 7), 21, 59), False),  # Monday, before the shift
        (at(date(2026, 12, 7), 22, 0), True),  # Monday's shift starts
        (at(date(2026, 12, 8), 5, 59), True),  # Tuesday morning: still Monday's shift
        (at(date(2026, 12, 8), 6, 0), False),  # the end is exclusive
        (at(date(2026, 12, 8), 12, 0), False),  # midday is outside a night shift
        (at(date(2026, 12, 12), 3, 0), True),  # Saturday morning: Friday's shift
        (at(date(2026, 12, 13), 3, 0), False),  # Sunday morning: Saturday starts no shift
        (at(date(2026, 12, 7), 3, 0), False),  # Monday morning: Sunday starts no shift
        (at(date(2027, 1, 1), 3, 0), True),  # New Year's night: the shift began on Thursday the 31st
        (at(date(2027, 1, 1), 23, 0), False),  # a holiday starts no shift
        (at(date(2027, 1, 2), 3, 0), False),
    ],
)
def test_a_night_shift_from_22_to_6_crosses_midnight(customer, licensed, moment, inside):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK, start_time=time(22, 0), end_time=time(6, 0))

    assert licensed(customer, moment) == ("VALID" if inside else "OUTSIDE_WORKING_HOURS")


def test_a_closed_day_ends_the_night_shift_that_would_start_on_it(customer, licensed):
    WorkHoursPolicyFactory(customer=customer, start_time=time(22, 0), end_time=time(6, 0))
    ClosedPeriod.objects.create(customer=customer, name="棚卸", first_day=date(2026, 12, 9), last_day=date(2026, 12, 9))

    assert licensed(customer, at(date(2026, 12, 9), 3, 0)) == "VALID"  # Tuesday's shift, into the closed Wednesday
    assert licensed(customer, at(date(2026, 12, 9), 23, 0)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(customer, at(date(2026, 12, 10), 3, 0)) == "OUTSIDE_WORKING_HOURS"


def test_a_new_york_customer_keeps_new_york_hours_and_american_holidays(licensed):
    new_yorker = CustomerFactory(code="NYC", time_zone="America/New_York")
    WorkHoursPolicyFactory(customer=new_yorker, time_zone="", public_holidays="US", mode=WorkHoursPolicy.Mode.BLOCK)

    assert licensed(new_yorker, at(date(2026, 11, 25), 10, zone=NEW_YORK)) == "VALID"
    assert licensed(new_yorker, at(date(2026, 11, 26), 10, zone=NEW_YORK)) == "OUTSIDE_WORKING_HOURS"  # Thanksgiving
    # 勤労感謝の日 (Monday 2026-11-23) is no holiday in New York.
    assert licensed(new_yorker, at(date(2026, 11, 23), 10, zone=NEW_YORK)) == "VALID"
    # Monday 10:00 in Tokyo is Sunday evening in New York.
    assert licensed(new_yorker, at(date(2026, 11, 30), 10)) == "OUTSIDE_WORKING_HOURS"


def test_a_night_shift_in_london_across_the_clock_change(licensed):
    londoner = CustomerFactory(code="LDN", time_zone="Europe/London")
    WorkHoursPolicyFactory(customer=londoner, time_zone="Europe/London", public_holidays="GB",
                           start_time=time(22, 0), end_time=time(6, 0), working_days=[5, 6])

    # The clocks go back at 02:00 on Sunday 2026-10-25: Saturday's shift still ends at 06:00 local time.
    assert licensed(londoner, at(date(2026, 10, 25), 5, 30, zone=LONDON)) == "VALID"
    assert licensed(londoner, at(date(2026, 10, 25), 6, 30, zone=LONDON)) == "OUTSIDE_WORKING_HOURS"
    assert licensed(londoner, datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1)) == "VALID"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"first_day": date(2026, 12, 29), "last_day": date(2026, 12, 28)}, "last_day"),
        ({"first_day": date(2026, 1, 1), "last_day": date(2027, 1, 1)}, "last_day"),  # a year or more cannot repeat
    ],
)
def test_an_invalid_closed_period_is_refused_naming_the_field(customer, fields, bad_field):
    with pytest.raises(ValidationError) as error:
        ClosedPeriod(customer=customer, name="休業", **fields).full_clean()

    assert bad_field in error.value.message_dict


def test_closed_periods_and_public_holidays_are_edited_in_the_admin(client, customer):
    client.force_login(User.objects.create_superuser("boss", "boss@example.jp", "pw-not-used"))
    page = client.get(f"/admin/licensing/customer/{customer.pk}/change/").content.decode()
    assert 'name="closed_periods-__prefix__-first_day"' in page and "JP — Japan" in page

    form = {
        "code": customer.code, "name": customer.name, "honorific": customer.honorific,
        "credit_limit": customer.credit_limit, "time_zone": "Asia/Tokyo", "is_active": "on",
        "work_hours_policy-TOTAL_FORMS": "1", "work_hours_policy-INITIAL_FORMS": "0",
        "work_hours_policy-0-is_active": "on", "work_hours_policy-0-mode": "warn",
        "work_hours_policy-0-working_days": ["1", "2", "3", "4", "5"],
        "work_hours_policy-0-start_time": "22:00", "work_hours_policy-0-end_time": "06:00",
        "work_hours_policy-0-public_holidays": "JP",
        "closed_periods-TOTAL_FORMS": "2", "closed_periods-INITIAL_FORMS": "0",
        "closed_periods-0-name": "年末年始", "closed_periods-0-first_day": "2026-12-29",
        "closed_periods-0-last_day": "2027-01-03", "closed_periods-0-every_year": "on",
        "closed_periods-1-name": "お盆", "closed_periods-1-first_day": "2026-08-13", "closed_periods-1-last_day": "2026-08-16",
        "closed_periods-1-every_year": "on",
        "api_tokens-TOTAL_FORMS": "0", "api_tokens-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/licensing/customer/{customer.pk}/change/", form)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    policy = WorkHoursPolicy.objects.get(customer=customer)
    assert (policy.start_time, policy.end_time, policy.crosses_midnight) == (time(22, 0), time(6, 0), True)
    assert sorted(ClosedPeriod.objects.values_list("name", flat=True)) == ["お盆", "年末年始"]
