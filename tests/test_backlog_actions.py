"""What staff actions do to an order, and what the backlog list shows."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from licensing.pricing import LineAmount, document_totals
from orders.models import Order, ReviewReason
from orders.permissions import ActionRefused
from orders.services.claims import order_claim
from orders.services.review import order_approve, order_cancel_by_staff, order_edit_lines, order_reject, order_retry
from orders.services.transitions import Actor, order_transition
from orders.templatetags.backlog_tags import age, when, yen
from tests.backlog_support import held_order, helper, make_staff, manager, order_desk  # noqa: F401
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(order_desk):
    return Actor.staff(order_desk)


class TestApprove:
    def test_approving_moves_the_order_on_releases_the_claim_and_enqueues_after_commit(
        self, customer, catalog, order_desk, desk, django_capture_on_commit_callbacks
    ):
        order = held_order(customer, catalog)
        order_claim(order=order, user=order_desk)

        with django_capture_on_commit_callbacks() as callbacks:
            order_approve(order=order, actor=desk)

        order.refresh_from_db()
        assert order.status == Order.Status.APPROVED and order.claimed_by is None
        event = order.events.get(to_status="approved")
        assert event.actor == order_desk and event.from_status == "needs_review"
        assert len(callbacks) == 1  # enqueue_order, only once the approval is committed

    def test_approving_over_a_rule_needs_a_reason_which_is_recorded(self, customer, catalog, desk):
        order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT])

        with pytest.raises(ActionRefused, match="理由を入力"):
            order_approve(order=order, actor=desk, override_reason="  ")
        order_approve(order=order, actor=desk, override_reason="部長承認済み")

        event = Order.objects.get(pk=order.pk).events.get(to_status="approved")
        assert event.reason == "部長承認済み"
        assert event.data == {"review_reasons": ["OVER_CREDIT_LIMIT"], "override_reason": "部長承認済み"}

    def test_an_order_that_is_no_longer_waiting_cannot_be_approved(self, customer, catalog, desk):
        order = held_order(customer, catalog, status=Order.Status.COMPLETED)

        with pytest.raises(ActionRefused, match=order.number):
            order_approve(order=order, actor=desk)


class TestReject:
    def test_rejecting_needs_a_reason(self, customer, catalog, desk):
        order = held_order(customer, catalog)

        with pytest.raises(ActionRefused):
            order_reject(order=order, actor=desk, reason=" ")
        order_reject(order=order, actor=desk, reason="重複注文")

        order.refresh_from_db()
        assert (order.status, order.status_reason) == (Order.Status.REJECTED, "重複注文")


class TestEditLines:
    def test_a_new_quantity_is_priced_from_the_tiers_and_the_totals_and_tax_are_recomputed(self, customer, catalog, desk):
        order = held_order(customer, catalog, lines=[("SRA-1Y", 10), ("RDA-1Y", 10)])

        order_edit_lines(order=order, actor=desk, changes={"SRA-1Y": 60})

        order.refresh_from_db()
        line = order.lines.get(sku="SRA-1Y")
        assert (line.quantity, line.unit_price, line.amount) == (60, 5400, 324_000)
        expected = document_totals([LineAmount(324_000, 10), LineAmount(30_000, 10)])
        assert (order.subtotal, order.tax, order.total) == (354_000, expected.tax, expected.total)

    def test_the_timeline_keeps_the_old_and_new_values(self, customer, catalog, desk):
        order = held_order(customer, catalog, lines=[("SRA-1Y", 10)])
        old_total = order.total

        order_edit_lines(order=order, actor=desk, changes={"SRA-1Y": 5})

        event = order.events.get(reason="lines edited")
        assert event.data["lines"] == [
            {"sku": "SRA-1Y", "old_quantity": 10, "new_quantity": 5, "old_unit_price": 6000, "old_amount": 60_000,
             "new_unit_price": 6000, "new_amount": 30_000}
        ]  # fmt: skip
        assert event.data["before"]["total"] == old_total and event.data["after"]["total"] == 33_000

    def test_bringing_the_quantity_under_the_cap_clears_that_reason(self, customer, catalog, desk, settings):
        settings.ORDER_REVIEW_MAX_QUANTITY = 100
        order = held_order(customer, catalog, lines=[("SRA-1Y", 150)], reasons=[ReviewReason.QUANTITY_OVER_CAP])

        order_edit_lines(order=order, actor=desk, changes={"SRA-1Y": 100})

        order.refresh_from_db()
        assert order.review_reasons == []
        assert order.status == Order.Status.NEEDS_REVIEW  # a person still approves it

    def test_a_line_can_be_removed_and_another_added(self, customer, catalog, desk):
        order = held_order(customer, catalog, lines=[("SRA-1Y", 10), ("RDA-1Y", 10)])

        order_edit_lines(order=order, actor=desk, changes={"RDA-1Y": 0})
        order_edit_lines(order=order, actor=desk, changes={"RDA-1Y": 5})

        assert sorted(order.lines.values_list("sku", "quantity", "position")) == [("RDA-1Y", 5, 2), ("SRA-1Y", 10, 1)]

    @pytest.mark.parametrize(
        "changes, message",
        [({"SRA-1Y": 0}, "1行以上"), ({"NOPE-1": 3}, "NOPE-1"), ({"SRA-1Y": -2}, "0以上"), ({}, "変更はありません")],
    )
    def test_bad_edits_are_refused_and_change_nothing(self, customer, catalog, desk, changes, message):
        order = held_order(customer, catalog)

        with pytest.raises(ActionRefused, match=message):
            order_edit_lines(order=order, actor=desk, changes=changes)

        assert list(order.lines.values_list("sku", "quantity")) == [("SRA-1Y", 10)]
        assert not order.events.filter(reason="lines edited").exists()

    def test_the_edit_form_reports_a_bad_quantity_by_name(self, client, customer, catalog, order_desk):
        order = held_order(customer, catalog)
        client.force_login(order_desk)

        response = client.post(reverse("orders:edit", args=[order.number]), {"quantity_SRA-1Y": "many"}, follow=True)

        assert "SRA-1Y" in response.content.decode()
        assert order.lines.get().quantity == 10


class TestRetryAndCancel:
    def _failed_from(self, customer, catalog, status):
        order = held_order(customer, catalog, status=status, reasons=[])
        return order_transition(order_id=order.pk, allowed_from={status}, to_status="failed", actor=Actor.system("pipeline"), action="failed")

    def test_a_failed_order_before_approval_starts_over(self, customer, catalog, desk, django_capture_on_commit_callbacks):
        order = self._failed_from(customer, catalog, Order.Status.VALIDATED)

        with django_capture_on_commit_callbacks() as callbacks:
            order_retry(order=order, actor=desk)

        assert Order.objects.get(pk=order.pk).status == Order.Status.RECEIVED
        assert len(callbacks) == 1

    def test_a_failed_order_after_approval_resumes_where_it_failed(self, customer, catalog, desk):
        order = self._failed_from(customer, catalog, Order.Status.PROVISIONING)

        order_retry(order=order, actor=desk)

        assert Order.objects.get(pk=order.pk).status == Order.Status.PROVISIONING

    def test_a_stuck_order_is_handed_to_the_broker_again_without_a_status_change(
        self, customer, catalog, desk, settings, django_capture_on_commit_callbacks
    ):
        stuck_for = timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS + 1)
        order = held_order(customer, catalog, status=Order.Status.RECEIVED, reasons=[], age=stuck_for)

        with django_capture_on_commit_callbacks() as callbacks:
            order_retry(order=order, actor=desk)

        assert Order.objects.get(pk=order.pk).status == Order.Status.RECEIVED
        assert order.events.get(reason="re-enqueued").data == {"requeued_in": "received"}
        assert len(callbacks) == 1

    def test_an_order_on_its_way_cannot_be_retried(self, customer, catalog, desk):
        order = held_order(customer, catalog, status=Order.Status.RECEIVED, reasons=[], age=timedelta(seconds=1))

        with pytest.raises(ActionRefused):
            order_retry(order=order, actor=desk)

    def test_staff_cancel_uses_the_same_cancellation_and_frees_the_claim(self, customer, catalog, order_desk, desk):
        order = held_order(customer, catalog)
        order_claim(order=order, user=order_desk)

        order_cancel_by_staff(order=order, actor=desk, reason="顧客都合")

        order.refresh_from_db()
        assert (order.status, order.claimed_by, order.status_reason) == (Order.Status.CANCELLED, None, "顧客都合")


class TestBulk:
    def test_each_order_gets_its_own_result(self, client, customer, catalog, order_desk):
        waiting = held_order(customer, catalog, po_number="W")
        done = held_order(customer, catalog, po_number="D", status=Order.Status.COMPLETED)
        client.force_login(order_desk)

        response = client.post(reverse("orders:bulk"), {"action": "reject", "orders": [waiting.pk, done.pk, 999999], "reason": "重複"})

        page = response.content.decode()
        assert page.count('data-result="ok"') == 1 and page.count('data-result="refused"') == 2
        assert "完了" in page  # the refused order's status, in words
        assert Order.objects.get(pk=waiting.pk).status == Order.Status.REJECTED

    def test_bulk_reject_without_a_reason_changes_nothing(self, client, customer, catalog, order_desk):
        order = held_order(customer, catalog)
        client.force_login(order_desk)

        response = client.post(reverse("orders:bulk"), {"action": "reject", "orders": [order.pk]}, follow=True)

        assert "却下の理由" in response.content.decode()
        assert Order.objects.get(pk=order.pk).status == Order.Status.NEEDS_REVIEW

    @pytest.mark.parametrize("data", [{"action": "delete", "orders": ["1"]}, {"action": "approve", "orders": ["x"]}, {"action": "approve"}])
    def test_a_malformed_bulk_request_is_refused(self, client, order_desk, data):
        client.force_login(order_desk)

        response = client.post(reverse("orders:bulk"), data)

        assert response.status_code == 302


class TestList:
    def rows(self, client, query=""):
        page = client.get(reverse("orders:backlog") + query).content.decode()
        return page

    def test_the_list_shows_what_needs_a_person_and_nothing_else(self, client, customer, catalog, order_desk, settings):
        waiting = held_order(customer, catalog, po_number="WAIT")
        failed = held_order(customer, catalog, po_number="FAIL", status=Order.Status.FAILED, reasons=[])
        stuck = held_order(customer, catalog, po_number="STUCK", status=Order.Status.APPROVED, reasons=[], age=timedelta(hours=1))
        moving = held_order(customer, catalog, po_number="MOVING", status=Order.Status.APPROVED, reasons=[], age=timedelta(seconds=2))
        done = held_order(customer, catalog, po_number="DONE", status=Order.Status.COMPLETED, reasons=[])
        client.force_login(order_desk)

        page = self.rows(client)

        for order in (waiting, failed, stuck):
            assert f">{order.number}<" in page
        for order in (moving, done):
            assert f">{order.number}<" not in page

    def test_filters_search_and_counts(self, client, customer, catalog, order_desk):
        other = CustomerFactory(code="ACME", name="アクメ株式会社")
        credit = held_order(customer, catalog, po_number="PO-CREDIT", reasons=[ReviewReason.OVER_CREDIT_LIMIT], age=timedelta(days=2))
        manual = held_order(other, catalog, po_number="PO-MANUAL", lines=[("SRA-1Y", 100)])
        client.force_login(order_desk)

        def numbers(query):
            page = self.rows(client, query)
            return {order.number for order in (credit, manual) if f">{order.number}<" in page}

        assert numbers("?reason=OVER_CREDIT_LIMIT") == {credit.number}
        assert numbers("?customer=acme") == {manual.number}
        assert numbers("?q=アクメ") == {manual.number}
        assert numbers(f"?q={credit.number}") == {credit.number}
        assert numbers("?q=po-manual") == {manual.number}
        assert numbers(f"?q={credit.number.lower()}") == {credit.number}  # the order number in any case
        assert numbers("?q=manu") == {manual.number}  # part of a PO number
        assert numbers("?q=acme") == {manual.number}  # the customer's code
        assert numbers("?age=overdue") == {credit.number}
        assert numbers("?age=fresh") == {manual.number}
        order_claim(order=manual, user=order_desk)
        assert numbers("?claim=mine") == {manual.number}
        assert numbers("?claim=unclaimed") == {credit.number}
        page = self.rows(client, "?sort=total_desc")
        assert page.index(manual.number) < page.index(credit.number)
        page = self.rows(client)  # oldest first by default
        assert page.index(credit.number) < page.index(manual.number)
        assert '<strong>1</strong> 与信限度額の超過' in page.replace("\n", "") or "与信" in page

    def test_each_row_shows_its_lines_in_position_order_and_who_holds_it(self, client, customer, catalog, order_desk, manager):
        two_lines = held_order(customer, catalog, po_number="TWO", lines=[("SRA-1Y", 10), ("RDA-1Y", 5)])
        no_lines = held_order(customer, catalog, po_number="NONE", lines=[])
        order_claim(order=two_lines, user=manager)
        client.force_login(order_desk)

        rows = {row.split('"')[1]: row for row in self.rows(client).split("<tr data-order-id=")[1:]}

        assert '<span class="nowrap">SRA-1Y × 10</span>, <span class="nowrap">RDA-1Y × 5</span>' in rows[str(two_lines.pk)]
        assert f'<td class="nowrap">{manager.username}</td>' in rows[str(two_lines.pk)]
        assert '<td class="lines-summary"></td>' in rows[str(no_lines.pk)]
        assert f"{customer.name}</a>" in rows[str(no_lines.pk)]

    def test_the_count_links_mark_the_current_reason_and_leave_out_empty_ones(self, client, customer, catalog, order_desk):
        held_order(customer, catalog, po_number="C", reasons=[ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.MANUAL_APPROVAL])
        held_order(customer, catalog, po_number="M", reasons=[ReviewReason.MANUAL_APPROVAL])
        held_order(customer, catalog, po_number="F", status=Order.Status.FAILED, reasons=[])
        client.force_login(order_desk)
        client.post("/i18n/setlang/", {"language": "en", "next": "/backlog/"})

        page = self.rows(client, "?reason=OVER_CREDIT_LIMIT")

        credit, manual = ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.MANUAL_APPROVAL
        with translation.override("en"):
            credit_label, manual_label = escape(credit.label), escape(manual.label)
        assert f'<a class="count reason current" href="?reason={credit}"><strong>1</strong> {credit_label}</a>' in page
        assert f'<a class="count reason" href="?reason={manual}"><strong>2</strong> {manual_label}</a>' in page
        assert f"?reason={ReviewReason.SUSPECTED_DUPLICATE}" not in page
        assert '<a class="count total" href="?"><strong>3</strong> in the backlog</a>' in page
        assert '<a class="count bad" href="?state=failed"><strong>1</strong> failed</a>' in page
        assert '<a class="count" href="?state=stuck"><strong>0</strong> stuck</a>' in page

    def test_sorting_by_total_puts_equal_totals_oldest_first(self, client, customer, catalog, order_desk):
        small_old = held_order(customer, catalog, po_number="S-OLD", lines=[("SRA-1Y", 1)], age=timedelta(hours=3))
        large = held_order(customer, catalog, po_number="L", lines=[("SRA-1Y", 100)], age=timedelta(hours=2))
        small_new = held_order(customer, catalog, po_number="S-NEW", lines=[("SRA-1Y", 1)], age=timedelta(hours=1))
        stuck = held_order(customer, catalog, po_number="STUCK", status=Order.Status.PROVISIONING, reasons=[], lines=[("SRA-1Y", 1)])
        Order.objects.filter(pk=stuck.pk).update(status_changed_at=timezone.now() - timedelta(hours=4))
        client.force_login(order_desk)

        def order_of(query):
            page = self.rows(client, query)
            return sorted((page.index(f">{order.number}<"), order.po_number) for order in (small_old, large, small_new, stuck))

        assert [po for _i, po in order_of("?sort=total_desc")] == ["L", "S-OLD", "S-NEW", "STUCK"]
        assert [po for _i, po in order_of("?sort=total_asc")] == ["S-OLD", "S-NEW", "STUCK", "L"]

    def test_the_filter_form_keeps_nothing_from_an_earlier_request(self, client, customer, catalog, order_desk):
        held_order(customer, catalog)
        client.force_login(order_desk)

        refused = self.rows(client, "?age=bogus&reason=MANUAL_APPROVAL")
        chosen = self.rows(client, "?age=fresh")
        plain = self.rows(client)

        assert 'role="alert"' in refused and 'value="MANUAL_APPROVAL" selected' in refused
        assert 'role="alert"' not in chosen and 'value="fresh" selected' in chosen and 'value="MANUAL_APPROVAL" selected' not in chosen
        assert 'role="alert"' not in plain and re.findall(r'value="([^"]+)" selected', plain) == []

    def test_counts_per_reason_come_from_one_query(self, customer, catalog, order_desk):
        from orders.backlog import shared_backlog_counts

        held_order(customer, catalog, po_number="1", reasons=[ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.MANUAL_APPROVAL])
        held_order(customer, catalog, po_number="2", reasons=[ReviewReason.MANUAL_APPROVAL])
        held_order(customer, catalog, po_number="3", status=Order.Status.FAILED, reasons=[])

        with CaptureQueriesContext(connection) as queries:
            counts = shared_backlog_counts(now=timezone.now())

        assert len(queries) == 1
        assert (counts.total, counts.needs_review, counts.failed) == (3, 2, 1)
        assert counts.by_reason["MANUAL_APPROVAL"] == 2 and counts.by_reason["OVER_CREDIT_LIMIT"] == 1
        assert counts.by_reason["SUSPECTED_DUPLICATE"] == 0

    def test_the_number_of_queries_does_not_grow_with_the_page_size(self, client, customer, catalog, order_desk, settings):
        settings.BACKLOG_COUNTS_CACHE_SECONDS = 0
        for i in range(30):
            held_order(customer, catalog, po_number=f"PO-{i}", lines=[("SRA-1Y", 10), ("RDA-1Y", 5)])
        client.force_login(order_desk)

        def queries_for(page_size):
            settings.BACKLOG_PAGE_SIZE = page_size
            with CaptureQueriesContext(connection) as queries:
                assert client.get(reverse("orders:backlog")).status_code == 200
            return len(queries)

        assert queries_for(5) == queries_for(30)

    def test_the_page_count_of_a_filtered_list_is_the_number_of_orders_it_holds(self, client, customer, catalog, order_desk, settings):
        # Single filters take their total from the counts at the top of the page instead of a COUNT(*).
        settings.BACKLOG_PAGE_SIZE = 5
        for i in range(7):
            held_order(customer, catalog, po_number=f"PO-C{i}", reasons=[ReviewReason.OVER_CREDIT_LIMIT])
        for i in range(6):
            held_order(customer, catalog, po_number=f"PO-M{i}", reasons=[ReviewReason.MANUAL_APPROVAL], age=timedelta(days=2))
        held_order(customer, catalog, po_number="PO-F", status=Order.Status.FAILED, reasons=[])
        client.force_login(order_desk)

        def total(query):
            page = client.get(reverse("orders:backlog") + query).content.decode()
            if "ページ（全" not in page:
                return None
            return int(page.split("ページ（全", 1)[1].split("件）", 1)[0])

        assert total("") == 14
        assert total("?reason=OVER_CREDIT_LIMIT") == 7
        assert total("?reason=MANUAL_APPROVAL&sort=total_desc") == 6
        assert total("?age=overdue") == 6
        assert total("?state=needs_review") == 13
        assert total("?claim=unclaimed") == 14
        assert total("?reason=MANUAL_APPROVAL&age=fresh") is None  # a single page: no pagination shown
        assert total("?q=PO-C") == 7

    def test_a_searched_list_counts_its_orders_without_the_rows_joins(self, client, customer, catalog, order_desk, settings):
        settings.BACKLOG_PAGE_SIZE = 2
        for i in range(3):
            held_order(customer, catalog, po_number=f"PO-S{i}")
        client.force_login(order_desk)

        with CaptureQueriesContext(connection) as queries:
            page = self.rows(client, "?q=PO-S")

        [count] = [query["sql"] for query in queries if "COUNT(" in query["sql"] and "PO-S" in query["sql"]]
        assert "JOIN" not in count
        assert "ページ（全3件）" in page

    def test_the_shared_counts_are_cached_briefly_and_forgotten_after_an_action(self, client, customer, catalog, order_desk):
        order = held_order(customer, catalog)
        client.force_login(order_desk)
        assert "<strong>1</strong> 件 対応待ち" in self.rows(client)
        held_order(customer, catalog, po_number="LATE-1")
        held_order(customer, catalog, po_number="LATE-2")

        assert "<strong>1</strong> 件 対応待ち" in self.rows(client)  # cached for BACKLOG_COUNTS_CACHE_SECONDS
        client.post(reverse("orders:reject", args=[order.number]), {"reason": "重複"})
        assert "<strong>2</strong> 件 対応待ち" in self.rows(client)  # recounted after the action

    def test_the_count_of_my_claims_is_cached_briefly_and_forgotten_after_my_action(self, client, customer, catalog, order_desk, manager):
        first, second = held_order(customer, catalog, po_number="C-1"), held_order(customer, catalog, po_number="C-2")
        client.force_login(order_desk)
        assert "<strong>0</strong> 自分の担当" in self.rows(client)

        client.post(reverse("orders:claim", args=[first.number]))
        assert "<strong>1</strong> 自分の担当" in self.rows(client)  # recounted after the action
        order_claim(order=second, user=order_desk)  # not through a page: nothing forgets the count
        assert "<strong>1</strong> 自分の担当" in self.rows(client)  # cached for BACKLOG_COUNTS_CACHE_SECONDS

        client.force_login(manager)
        assert "<strong>0</strong> 自分の担当" in self.rows(client)  # each person has their own count
        client.force_login(order_desk)
        client.post(reverse("orders:release", args=[first.number]))
        assert "<strong>1</strong> 自分の担当" in self.rows(client)  # second is still mine

    def test_the_htmx_refresh_returns_only_the_live_region(self, client, customer, catalog, order_desk):
        order = held_order(customer, catalog)
        client.force_login(order_desk)

        response = client.get(reverse("orders:backlog"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="backlog-live")

        page = response.content.decode()
        assert order.number in page and "<html" not in page and 'id="bulk-form"' not in page

    def test_the_page_is_japanese_by_default_and_english_on_request(self, client, customer, catalog, order_desk):
        held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP], lines=[("SRA-1Y", 1234)])
        client.force_login(order_desk)

        japanese = self.rows(client)
        client.post("/i18n/setlang/", {"language": "en", "next": "/backlog/"})
        english = self.rows(client)

        assert "受注バックログ" in japanese and "数量が上限を超過" in japanese and "¥6,515,520" in japanese
        assert "Backlog" in english and "Quantity over the per-order cap" in english and "¥6,515,520" in english


class TestDetail:
    def test_the_order_page_shows_lines_tax_credit_subscriptions_and_the_timeline(self, client, customer, catalog, order_desk):
        from tests.factories import provision

        provision(customer, catalog["SRA-1Y"], 20, "earlier-order", reason="earlier")
        order = held_order(customer, catalog, lines=[("SRA-1Y", 10)])
        order_edit_lines(order=order, actor=Actor.staff(order_desk), changes={"SRA-1Y": 12})
        client.force_login(order_desk)

        page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

        assert "¥72,000" in page and "¥7,200" in page and "¥79,200" in page  # amount, tax, total
        assert "与信限度額" in page and "¥10,000,000" in page and "¥79,200" in page
        assert "SRA-1Y" in page and ">20<" in page  # the subscription's seats
        assert "10 → 12" in page  # the edit, in the timeline
        assert reverse("orders:quote_pdf", args=[order.number]) in page

    def test_the_quote_pdf_link_gives_a_preview_before_the_pipeline_stored_one(self, client, customer, catalog, order_desk):
        order = held_order(customer, catalog)
        client.force_login(order_desk)

        response = client.get(reverse("orders:quote_pdf", args=[order.number]))

        assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")


class TestFormatting:
    def test_yen_dates_and_ages_the_japanese_way(self):
        moment = timezone.make_aware(timezone.datetime(2026, 11, 29, 5, 5), timezone.get_fixed_timezone(0))
        with translation.override("ja"):
            assert yen(1234567) == "¥1,234,567"
            assert when(moment) == "2026年11月29日 14:05"
            assert age(timezone.now() - timedelta(hours=3, minutes=10)) == "3時間"
            assert age(timezone.now() - timedelta(days=2, hours=5)) == "2日5時間"
            assert age(timezone.now() - timedelta(minutes=15)) == "15分"
        with translation.override("en"):
            assert when(moment) == "29 Nov 2026 14:05"
            assert age(timezone.now() - timedelta(hours=3, minutes=10)) == "3 h"


def test_the_timeline_shows_review_codes_in_words():
    from django.utils import translation

    from orders.models import ReviewReason
    from orders.templatetags.backlog_tags import event_reason

    with translation.override("en"):
        shown = event_reason("rules checked: QUANTITY_OVER_CAP, MANUAL_APPROVAL")
        expected = f"rules checked: {ReviewReason.QUANTITY_OVER_CAP.label}, {ReviewReason.MANUAL_APPROVAL.label}"
        assert shown == expected
    with translation.override("ja"):
        assert "QUANTITY_OVER_CAP" not in event_reason("QUANTITY_OVER_CAP")


def test_the_timeline_shows_what_the_pipeline_wrote_in_the_readers_language():
    from django.utils import translation

    from orders.templatetags.backlog_tags import event_reason

    with translation.override("en"):
        assert event_reason("approved straight through") == "approved straight through"
        assert event_reason("rules checked: nothing to review") == "rules checked: nothing to review"
    with translation.override("ja"):
        assert event_reason("approved straight through") == "自動承認"
        assert event_reason("rules checked: nothing to review") == "ルール判定: 確認事項なし"
        assert event_reason("seats provisioned") == "ライセンスを割り当てました"
        assert event_reason("a person's own words") == "a person's own words"


def test_on_postgresql_po_numbers_are_searched_through_a_trigram_index(requires_postgres):
    # Without it, every backlog search reads every open order's row (bench/README.md, Backlog).
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'order_po_number_trigram'")
        (definition,) = cursor.fetchone()
    assert "gin_trgm_ops" in definition and "upper" in definition.lower()
