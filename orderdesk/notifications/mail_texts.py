"""The Japanese text of the e-mails this layer writes itself (the apps write their own)."""

from django.utils import timezone

ENDPOINT_DISABLED_SUBJECT = "【Orderdesk】Webhook の送信先を停止しました"
ENDPOINT_DISABLED_BODY = """{customer} 御中

いつもお世話になっております。
ご登録の Webhook 送信先へのイベント送信が {since} 以降すべて失敗したため、
この送信先を停止いたしました。

送信先: {url}

受信側を復旧のうえ、API（PATCH /api/v1/webhook-endpoints/{id}/ に {{"enabled": true}}）で
再開してください。停止中のイベントは配信ログから再送できます。

{issuer}
"""


def endpoint_disabled_message(*, endpoint, customer) -> tuple[str, str]:
    from django.conf import settings

    since = timezone.localtime(endpoint.failing_since).strftime("%Y年%-m月%-d日 %H:%M")
    body = ENDPOINT_DISABLED_BODY.format(
        customer=customer.name, since=since, url=endpoint.url, id=endpoint.pk, issuer=settings.ORDERDESK_ISSUER["name"]
    )
    return ENDPOINT_DISABLED_SUBJECT, body
