"""What staff read: error pages with the navigation, a favicon, words instead of codes, one date format, names in the page's language."""

import re
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from orders.models import Order, ReviewReason
from orders.services.review import order_edit_lines
from orders.services.transitions import Actor
from tests.backlog_support import PASSWORD, held_order, make_staff
from tests.factories import draft_quote

pytestmark = pytest.mark.django_db


def visible_text(response) -> str:
    """The page's text as a reader sees it: no tags, attributes, scripts or templates."""
    html = response.content.decode()
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def english(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})


# --- error pages ---------------------------------------------------------------------


@pytest.mark.parametrize("language, words", [("ja", "ページが見つかりません"), ("en", "Page not found")])
def test_a_missing_page_says_so_in_the_users_language_with_the_navigation(client, language, words):
    client.force_login(make_staff("tanaka", "order_desk"))
    if language == "en":
        english(client)

    response = client.get("/backlog/NO-SUCH-ORDER/")

    assert response.status_code == 404
    page = response.content.decode()
    assert words in page and f'lang="{language}"' in page
    assert 'class="mainnav"' in page and reverse("orders:backlog") in page  # the way back
    assert "/static/css/orderdesk.css" in page


def test_a_page_the_role_may_not_open_answers_403_with_the_navigation(client):
    client.force_login(make_staff("takahashi", "sales"))

    response = client.get(reverse("orders:backlog"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "許可されていません" in page and reverse("quotes:list") in page


@pytest.mark.parametrize("language, words", [("ja", "サーバーでエラーが発生しました"), ("en", "Something went wrong on the server")])
def test_a_server_error_is_a_page_in_the_users_language_with_the_navigation(monkeypatch, language, words):
    client = Client(raise_request_exception=False)
    client.force_login(make_staff("tanaka", "order_desk"))
    if language == "en":
        english(client)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("orders.views.rows_for_viewer", broken)
    response = client.get(reverse("orders:backlog"))

    assert response.status_code == 500
    page = response.content.decode()
    assert words in page and 'class="mainnav"' in page and "a bug" not in page


def test_the_pages_have_a_favicon(client, settings):
    from django.contrib.staticfiles import finders

    page = client.get(reverse("login")).content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon and icon.group(1).startswith(settings.STATIC_URL) and finders.find(icon.group(1).removeprefix(settings.STATIC_URL))

    response = client.get("/favicon.ico")  # what browsers ask for on pages without the link (the admin)
    assert response.status_code in (301, 302)
    assert finders.find(response["Location"].removeprefix(settings.STATIC_URL))


# --- words, not codes ------------------------------------------------------------------


def test_the_order_page_shows_the_current_reasons_in_words_and_no_codes_even_after_an_edit(client, customer, catalog, settings):
    settings.ORDER_REVIEW_MAX_QUANTITY = 100
    customer.manual_approval = True
    customer.save()
    order = held_order(
        customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP, ReviewReason.MANUAL_APPROVAL], lines=[("SRA-1Y", 150)],
        status_reason="QUANTITY_OVER_CAP, MANUAL_APPROVAL",
    )  # fmt: skip
    user = make_staff("tanaka", "order_desk")
    order_edit_lines(order=order, actor=Actor.staff(user), changes={"SRA-1Y": 100})
    client.force_login(user)

    text = visible_text(client.get(reverse("orders:detail", args=[order.number])))

    assert not re.search(r"\b[A-Z]+(_[A-Z]+)+\b", text), re.findall(r"\b[A-Z]+(?:_[A-Z]+)+\b", text)
    decision = text[text.index("判断") :]
    assert "数量が上限を超過" not in decision.split("却下の理由")[0]  # the reason the edit cleared is gone
    assert "手動承認が必要な顧客" in decision


def test_a_completed_order_page_has_no_english_status_text_in_japanese(client, customer, catalog):
    order = held_order(customer, catalog, status=Order.Status.COMPLETED, reasons=[], status_reason="quote PDF stored")
    client.force_login(make_staff("tanaka", "order_desk"))

    text = visible_text(client.get(reverse("orders:detail", args=[order.number])))

    assert "quote PDF stored" not in text and "stored" not in text


ALLOWED_IN_JAPANESE = {"SKU", "API", "PO", "PDF", "SHA", "ID", "URL", "TEL", "JSON"}


def english_words(labels) -> list[str]:
    return [label for label in labels if set(re.findall(r"[A-Za-z]{2,}", label)) - ALLOWED_IN_JAPANESE]


def test_the_admin_names_its_columns_and_fields_in_japanese(client, customer, catalog):
    from licensing.models import ApiToken
    from tests.factories import provision

    order = held_order(customer, catalog)
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)])
    provision(customer, catalog["SRA-1Y"], 10, "r1", reason="x")
    token, _key = ApiToken.objects.issue(customer=customer)
    client.force_login(User.objects.create_superuser("root", password=PASSWORD))

    for model in ["orders/order", "quotes/quote", "licensing/customer", "licensing/product", "licensing/apitoken", "licensing/subscription", "licensing/seatledgerentry"]:
        page = client.get(f"/admin/{model}/").content.decode()
        columns = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", th)).strip() for th in re.findall(r'<th scope="col" class="(?:sortable )?column-.*?</th>', page, flags=re.S)]
        assert columns and english_words(columns) == [], (model, columns)
    for url in [f"/admin/quotes/quote/{quote.pk}/change/", f"/admin/licensing/apitoken/{token.pk}/change/", f"/admin/orders/order/{order.pk}/change/"]:
        labels = re.findall(r"<label[^>]*>([^<]+)<", client.get(url).content.decode())
        assert labels and english_words(labels) == [], (url, english_words(labels))


# --- one date format per language --------------------------------------------------------


def test_every_page_writes_dates_one_way_per_language(client, customer, catalog):
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)], valid_until=date(2027, 1, 1))
    order = held_order(customer, catalog, requested_start=date(2027, 1, 4))
    client.force_login(make_staff("suzuki", "manager", "sales"))
    pages = [reverse("quotes:list"), reverse("quotes:detail", args=[quote.number]), reverse("orders:detail", args=[order.number])]

    for language, expected, wrong in [
        ("ja", ["2027年1月1日"], [r"\d{4}/\d{2}/\d{2}", r"\d{4}年0\d月", r"\d{4}-\d{2}-\d{2}"]),
        ("en", ["1 Jan 2027"], [r"\d{4}/\d{2}/\d{2}", r"\d{4}-\d{2}-\d{2}", r"[A-Z][a-z]+\.? \d{1,2}, \d{4}"]),
    ]:
        if language == "en":
            english(client)
        texts = {url: visible_text(client.get(url)) for url in pages}
        assert all(day in texts[pages[1]] for day in expected), texts[pages[1]]
        assert ("2027年1月4日" if language == "ja" else "4 Jan 2027") in texts[pages[2]]
        for url, text in texts.items():
            for pattern in wrong:
                assert not re.search(pattern, text), (language, url, re.findall(pattern, text))


def test_the_quote_email_writes_the_validity_the_same_way(customer, catalog, mailoutbox):
    from orderdesk.notifications.emails import email_send
    from orderdesk.notifications.models import OutboundEmail
    from tests.factories import sent_quote

    sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)], valid_until=date(2027, 1, 1))
    email_send(email_id=OutboundEmail.objects.get(kind="quote.sent").pk)  # what the notifications worker runs

    assert "2027年1月1日" in mailoutbox[0].body and "2027年01月01日" not in mailoutbox[0].body


# --- names in the page's language -----------------------------------------------------------


def test_product_names_follow_the_page_language(client, customer, catalog):
    catalog["SRA-1Y"].name_en = "Secure Remote Access, 1-year license"
    catalog["SRA-1Y"].save()
    order = held_order(customer, catalog, lines=[("SRA-1Y", 10)])
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)])
    client.force_login(make_staff("suzuki", "manager", "sales"))
    pages = [reverse("orders:detail", args=[order.number]), reverse("quotes:detail", args=[quote.number]), reverse("quotes:new")]

    japanese = [visible_text(client.get(url)) for url in pages]
    english(client)
    english_pages = [visible_text(client.get(url)) for url in pages]

    for text in japanese:
        assert "セキュアリモートアクセス 1年ライセンス" in text
    for text in english_pages:
        assert "Secure Remote Access, 1-year license" in text and "セキュアリモートアクセス" not in text
