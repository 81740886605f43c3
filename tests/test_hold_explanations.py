"""Each held order says what holds it and what would release it, with today's numbers, in Japanese and English."""

import pytest
from django.urls import reverse
from django.utils import translation

from orders.holds import order_hold_explanations
from orders.models import Order, ReviewReason
from tests.backlog_support import held_order, order_desk, signed_in  # noqa: F401
from tests.factories import OrderFactory, provision

pytestmark = pytest.mark.django_db


def explained(order, language="en") -> dict[str, tuple[str, str]]:
    with translation.override(language):
        return {hold.code: (hold.found, hold.release) for hold in order_hold_explanations(order=order)}


def test_a_credit_hold_gives_the_exposure_by_its_parts_and_the_limit_that_would_release_it(customer, catalog):
    customer.credit_limit = 1_000_000
    customer.save()
    OrderFactory(customer=customer, status=Order.Status.APPROVED, total=600_000, review_reasons=[])
    order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], lines=[("SRA-1Y", 100)])  # ¥528,000

    found, release = explained(order)[ReviewReason.OVER_CREDIT_LIMIT]

    assert found.startswith("Over the credit limit by ¥128,000: exposure ¥1,128,000 (approved ¥600,000, unpaid since ")
    assert "this order ¥528,000) against a limit of ¥1,000,000." in found
    assert "raise the customer's credit limit to at least ¥1,128,000 or reduce the order by ¥128,000" in release
    ja_found, ja_release = explained(order, "ja")[ReviewReason.OVER_CREDIT_LIMIT]
    assert ja_found.startswith("与信限度額を¥128,000超過：与信残高 ¥1,128,000（承認済み ¥600,000、")
    assert "¥1,128,000以上に引き上げる" in ja_release


def test_the_explanation_follows_the_customers_limit_instead_of_going_stale(customer, catalog):
    customer.credit_limit = 100_000
    customer.save()
    order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], lines=[("SRA-1Y", 100)])
    customer.credit_limit = 2_000_000
    customer.save()

    found, release = explained(Order.objects.get(pk=order.pk))[ReviewReason.OVER_CREDIT_LIMIT]

    assert found.startswith("Within the credit limit now: exposure ¥528,000 of ¥2,000,000")
    assert release == "Nothing holds it on credit any more: approve it."


def test_a_quantity_hold_names_the_line_and_the_cap(customer, catalog, settings):
    settings.ORDER_REVIEW_MAX_QUANTITY = 1000
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP], lines=[("SRA-1Y", 5000), ("RDA-1Y", 10)])

    found, release = explained(order)[ReviewReason.QUANTITY_OVER_CAP]

    assert found == "SRA-1Y × 5,000: over the per-order cap of 1,000 seats."
    assert release.startswith("Reduce each line to 1,000 seats or fewer")
    assert explained(order, "ja")[ReviewReason.QUANTITY_OVER_CAP][0] == "SRA-1Y × 5,000：1受注あたりの上限1,000ユーザーを超えています。"


def test_an_addon_hold_counts_the_seats_and_says_approving_does_not_help(customer, catalog):
    provision(customer, catalog["SRA-1Y"], 40, "order-line:1")
    order = held_order(customer, catalog, reasons=[ReviewReason.ADDON_EXCEEDS_BASE], lines=[("SRA-1Y", 10), ("RDA-1Y", 80)])

    found, release = explained(order)[ReviewReason.ADDON_EXCEEDS_BASE]

    assert found == "RDA add-on seats would be 80 on 50 SRA base seats (30 over)."
    assert "Approving does not help" in release
    assert explained(order, "ja")[ReviewReason.ADDON_EXCEEDS_BASE][0] == "RDAアドオンが80ユーザー、SRA基本ライセンスが50ユーザーとなり、30ユーザー超過。"


def test_a_refused_provisioning_says_what_the_ledger_refused(customer, catalog):
    order = held_order(
        customer,
        catalog,
        reasons=[ReviewReason.ADDON_EXCEEDS_BASE, ReviewReason.PROVISIONING_REFUSED],
        lines=[("RDA-1Y", 30)],
        status_reason="PROVISIONING_REFUSED: OWNER: RDA add-on seats 30 > SRA base seats 0 (30 over)",
    )

    found, release = explained(order)[ReviewReason.PROVISIONING_REFUSED]

    assert found == "Licensing refused the seats: RDA add-on seats would be 30 on 0 SRA base seats (30 over)."
    assert release == "Reduce the add-on seats or add base seats to the order, then approve it again."


@pytest.mark.parametrize("code", [ReviewReason.MANUAL_APPROVAL, ReviewReason.INACTIVE_SKU, ReviewReason.SUSPECTED_DUPLICATE])
def test_every_reason_says_what_would_release_it_in_both_languages(customer, catalog, code):
    order = held_order(customer, catalog, reasons=[code])

    for language in ("en", "ja"):
        found, release = explained(order, language)[code]
        assert found and release
    assert explained(order, "ja")[code][1] != explained(order, "en")[code][1]


def test_the_order_page_shows_the_explanations_instead_of_raw_codes(client, customer, catalog, order_desk):
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP], lines=[("SRA-1Y", 5000)], status_reason="QUANTITY_OVER_CAP")
    signed_in(client, order_desk)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert "1受注あたりの上限1,000ユーザーを超えています" in page and "解除するには" in page
    assert ">QUANTITY_OVER_CAP<" not in page
