"""What customers hear about their orders: webhook events and Japanese e-mail, written with the status change.

    order_received_event_row(order=…, body=…)      the order.received event's row, for both order writers
    orders_notices_record(orders=…, to_status=…)   in the transition's transaction (orders.services.transitions)

Statuses customers hear about: received (every new order, by the writers),
needs_review, completed, rejected, cancelled. The event carries the order as
the API shows it (`data.object`), and what the status adds: the review
reasons in words, the quote PDF's URL and the seats, the reason given.
E-mail goes to the billing contact for needs_review (what happens next, no
internal reasons), completed (the 御見積書 PDF attached, the keys' count) and
rejected (the reason given).
"""

from collections.abc import Sequence

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import translation

from orderdesk.notifications.emails import email_enqueue
from orderdesk.notifications.outbox import EventRecord, event_row, events_record
from orders.models import Order, OrderDocument, ReviewReason

Status = Order.Status
EVENT_TYPES = {
    Status.NEEDS_REVIEW: "order.needs_review",
    Status.COMPLETED: "order.completed",
    Status.REJECTED: "order.rejected",
    Status.CANCELLED: "order.cancelled",
}


def order_received_event_row(*, order: Order, body: dict | None) -> dict:
    """The order.received event of a new order (its columns); `body` is the API's 201 body when there is one."""
    return event_row(customer_id=order.customer_id, event_type="order.received", payload={"object": body or order_resource(order)})


def orders_notices_record(*, orders: Sequence[Order], to_status: str) -> None:
    """The events (and e-mails) of orders that just moved to `to_status`, in the caller's transaction."""
    event_type = EVENT_TYPES.get(to_status)
    if event_type is None or not orders:
        return
    prefetch_related_objects([o for o in orders if not _lines_prefetched(o)], "lines")
    records = [EventRecord(customer_id=o.customer_id, event_type=event_type, payload=_payload(o, event_type)) for o in orders]
    events_record(records)
    for order in orders:
        _email(order, to_status)


def order_resource(order: Order) -> dict:
    """The order as the API shows it (GET /api/v1/orders/{number}/ without the timeline), with an absolute URL."""
    from orders.api.serializers import order_body  # the API's one writer of an order's body

    body = order_body(order, request=None)
    return {**body, "url": settings.ORDERDESK_SITE_URL + body["url"]}


def quote_pdf_url(order: Order) -> str:
    return settings.ORDERDESK_SITE_URL + reverse("api:order-quote-pdf", kwargs={"number": order.number})


def order_quote_pdf_attachment(*, order_id: int) -> tuple[str, bytes, str]:
    """The stored 御見積書 of an order, as an e-mail attachment (called by the notifications worker)."""
    document = OrderDocument.objects.select_related("order").get(order_id=order_id, kind=OrderDocument.Kind.QUOTE)
    with document.file.open("rb") as file:
        return f"{document.order.number}-quote.pdf", file.read(), document.content_type


def _lines_prefetched(order: Order) -> bool:
    return getattr(order, "prefetched_lines", None) is not None or "lines" in getattr(order, "_prefetched_objects_cache", {})


def _payload(order: Order, event_type: str) -> dict:
    payload = {"object": order_resource(order)}
    if event_type == "order.needs_review":
        with translation.override("en"):
            payload["review_reasons"] = [
                {"code": code, "description": str(ReviewReason(code).label) if code in ReviewReason.values else code}
                for code in order.review_reasons
            ]
    elif event_type == "order.completed":
        payload["quote_pdf_url"] = quote_pdf_url(order)
        payload["seats"] = [{"sku": line.sku, "quantity": line.quantity} for line in order.lines.all()]
    elif event_type in ("order.rejected", "order.cancelled"):
        payload["reason"] = order.status_reason
    return payload


# --- E-mail (Japanese, to the customer's billing contact) -----------------------------

_SIGNATURE = "\n\n{issuer}\n"
_COMPLETED = (
    "【ご注文完了のお知らせ】{number}",
    """{customer} 御中

いつもお世話になっております。{issuer}です。
ご注文（注文番号 {number}、貴社発注番号 {po_number}）のライセンス発行が完了いたしました。

ライセンスキー: {keys}件（合計 {seats:,} ユーザー）
ご注文金額: ¥{total:,}（税込）

御見積書（PDF）を添付いたします。ライセンスキーは API（GET /api/v1/licenses/）でご確認いただけます。
今後ともよろしくお願い申し上げます。""",
)
_NEEDS_REVIEW = (
    "【ご注文確認中のお知らせ】{number}",
    """{customer} 御中

いつもお世話になっております。{issuer}です。
ご注文（注文番号 {number}、貴社発注番号 {po_number}）は、担当者が内容を確認しております。

確認が済みしだい手続きを進め、完了またはお取り扱いできない場合はあらためてご連絡いたします。
通常、営業日の1日以内に確認いたします。お客様に必要なお手続きはございません。""",
)
_REJECTED = (
    "【ご注文お取り扱い不可のお知らせ】{number}",
    """{customer} 御中

いつもお世話になっております。{issuer}です。
誠に恐れ入りますが、ご注文（注文番号 {number}、貴社発注番号 {po_number}）はお取り扱いできませんでした。

理由: {reason}

ご不明な点がございましたら、本メールにご返信ください。""",
)
_EMAILS = {Status.COMPLETED: _COMPLETED, Status.NEEDS_REVIEW: _NEEDS_REVIEW, Status.REJECTED: _REJECTED}


def _email(order: Order, to_status: str) -> None:
    template = _EMAILS.get(to_status)
    customer = order.customer
    if template is None or not customer.billing_email:
        return
    lines = list(order.lines.all())
    values = {
        "customer": customer.name,
        "issuer": settings.ORDERDESK_ISSUER["name"],
        "number": order.number,
        "po_number": order.po_number,
        "keys": len(lines),  # one license key per order line (orders.services.pipeline.orders_provision)
        "seats": sum(line.quantity for line in lines),
        "total": order.total,
        "reason": order.status_reason,
    }
    subject, body = template
    attachments = (
        [{"render": "orders.services.notices.order_quote_pdf_attachment", "kwargs": {"order_id": order.pk}}]
        if to_status == Status.COMPLETED
        else []
    )
    email_enqueue(
        customer_id=customer.pk,
        topic=f"order:{order.number}",
        kind=f"order.{to_status}",
        to=[customer.billing_email],
        subject=subject.format(**values),
        body=(body + _SIGNATURE).format(**values),
        attachments=attachments,
    )
