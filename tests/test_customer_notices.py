"""Customers' events and e-mail are written with the change that causes them, and the e-mail is Japanese."""

import pytest
from django.core import mail
from django.db import transaction

from orderdesk.audit import Actor
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.models import Event, OutboundEmail
from orders.models import Order
from orders.services.cancellation import order_cancel
from orders.services.pipeline import order_advance, orders_gather_received
from orders.services.review import order_reject
from tests.conftest import order_body
from tests.factories import submitted_order

pytestmark = pytest.mark.django_db


def run_pipeline(order: Order) -> Order:
    orders_gather_received()
    for _step in range(10):
        order.refresh_from_db()
        if order.status not in Order.MOVING_STATUSES:
            return order
        order_advance(order_id=order.pk)
    return order


def test_a_new_order_commits_with_its_received_event_showing_the_order_as_the_api_does(api, customer):
    response = api.post("/api/v1/orders/", order_body(), format="json")
    assert response.status_code == 201
    event = Event.objects.get(customer=customer, type="order.received")
    assert event.payload == {"object": response.json()}
    assert event.public_id.startswith("evt_") and event.dispatched_at is None


def test_an_order_refused_at_intake_writes_no_event(api, customer):
    assert api.post("/api/v1/orders/", order_body(), format="json").status_code == 201
    assert api.post("/api/v1/orders/", order_body(), format="json").status_code == 409  # the same PO number
    assert Event.objects.filter(customer=customer).count() == 1


def test_a_status_change_rolled_back_leaves_no_event(customer, catalog):
    order = submitted_order(customer)
    with pytest.raises(RuntimeError), transaction.atomic():
        order_cancel(order=order, actor=Actor.system("tests"), reason="changed our mind")
        raise RuntimeError("the caller's transaction fails after the change")
    assert not Event.objects.filter(type="order.cancelled").exists()
    order_cancel(order=order, actor=Actor.system("tests"), reason="changed our mind")
    assert Event.objects.get(type="order.cancelled").payload["reason"] == "changed our mind"


def sent(email: OutboundEmail):
    assert email_send(email_id=email.pk) is True
    return mail.outbox[-1]


def test_the_completed_order_email_is_japanese_with_the_quote_pdf_and_the_keys_count(customer, catalog):
    order = run_pipeline(submitted_order(customer, lines=(("SRA-1Y", 50), ("RDA-1Y", 30))))
    assert order.status == Order.Status.COMPLETED
    message = sent(OutboundEmail.objects.get(kind="order.completed"))
    assert message.to == [customer.billing_email]
    assert message.subject == f"【ご注文完了のお知らせ】{order.number}"
    assert "株式会社オーナー 御中" in message.body
    assert "ライセンスキー: 2件（合計 80 ユーザー）" in message.body
    ((filename, content, content_type),) = message.attachments
    assert filename == f"{order.number}-quote.pdf" and content_type == "application/pdf" and content.startswith(b"%PDF")
    assert OutboundEmail.objects.get(kind="order.completed").status == OutboundEmail.Status.SENT


def test_the_needs_review_email_says_what_happens_next_without_internal_reasons(customer, catalog):
    customer.manual_approval = True
    customer.save()
    order = run_pipeline(submitted_order(customer))
    assert order.status == Order.Status.NEEDS_REVIEW
    message = sent(OutboundEmail.objects.get(kind="order.needs_review"))
    assert "担当者が内容を確認しております" in message.body
    assert "MANUAL_APPROVAL" not in message.body and "manual" not in message.body.lower()
    event = Event.objects.get(type="order.needs_review")
    assert event.payload["review_reasons"] == [{"code": "MANUAL_APPROVAL", "description": "Customer requires manual approval"}]


def test_the_rejected_email_gives_the_reason(customer, catalog):
    customer.manual_approval = True
    customer.save()
    order = run_pipeline(submitted_order(customer))
    order_reject(order=order, actor=Actor.system("tests"), reason="ご契約期間外のため")
    message = sent(OutboundEmail.objects.get(kind="order.rejected"))
    assert "理由: ご契約期間外のため" in message.body
    assert message.subject.startswith("【ご注文お取り扱い不可のお知らせ】")


def test_a_failed_send_is_recorded_and_can_be_sent_again(customer, catalog, settings):
    from orderdesk.notifications.emails import email_send_again

    customer.manual_approval = True
    customer.save()
    run_pipeline(submitted_order(customer))
    email = OutboundEmail.objects.get(kind="order.needs_review")
    settings.EMAIL_BACKEND = "tests.test_customer_notices.FailingBackend"
    assert email_send(email_id=email.pk) is False
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED and "SMTP down" in email.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email_send_again(email=email)
    assert email_send(email_id=email.pk) is True
    assert email_send(email_id=email.pk) is None  # sent once, not twice


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP down")
