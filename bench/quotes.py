"""Quote PDFs per second through the real path, against plain reportlab, in the same run.

"Renderer" is what the quote pages and the e-mail do for every PDF: read the
quote, its lines and its customer from the database, build the QuoteDocument
(quotes.services.documents) and render it with quotes.pdf.QuotePdfRenderer.
"Plain" draws the same document with bare reportlab canvas calls
(bench/pdf_ceiling.py), with no database work at all: the ceiling.
Goal: renderer / plain ≥ 0.6.

    .venv/bin/python -m bench.quotes [renders]

Uses DATABASE_URL when set (point it at a scratch database: the script adds a
customer, products and a quote), otherwise a fresh SQLite file in a temp dir.
"""

import os
import sys
import tempfile

GOAL = 0.6


def _django_setup() -> None:
    if "DATABASE_URL" not in os.environ:
        os.environ["ORDERDESK_VAR_DIR"] = tempfile.mkdtemp(prefix="orderdesk-bench-quotes-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
    os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("CACHE_URL", "locmem://")
    os.environ["EMAIL_BACKEND"] = "file"  # sending the quote below writes a file under the var dir
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _sent_quote():
    """A typical quote, sent: three lines (one at 8%), a line discount, a quote discount, notes."""
    from licensing.models import Customer, PriceTier, Product
    from orderdesk.audit import Actor
    from quotes.services.editing import quote_create
    from quotes.services.pricing import LineInput
    from quotes.services.workflow import quote_send

    customer, _ = Customer.objects.get_or_create(
        code="BENCH-QUOTES", defaults={"name": "株式会社ベンチマーク", "billing_email": "bench@example.jp"}
    )
    specs = [
        ("BENCH-SRA", "セキュアリモートアクセス 1年ライセンス", "ユーザー", 10, 12_000),
        ("BENCH-SVC", "導入支援サービス（リモート・オンサイト併用）", "式", 10, 300_000),
        ("BENCH-TEA", "会議用お茶菓子セット", "箱", 8, 1_080),
    ]
    products = []
    for sku, name, unit, rate, price in specs:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name_ja": name, "name_en": sku, "kind": Product.Kind.BASE, "unit": unit, "tax_rate": rate}
        )
        PriceTier.objects.get_or_create(product=product, min_quantity=1, defaults={"unit_price": price})
        products.append(product)
    actor = Actor.system("bench")
    quote = quote_create(
        customer=customer,
        lines=[LineInput(products[0], 50, discount_percent=10), LineInput(products[1], 1), LineInput(products[2], 10)],
        discount=20_000,
        notes="本見積の有効期限内にご発注ください。\nライセンスはご発注後、5営業日以内に発行いたします。",
        actor=actor,
    )
    return quote_send(quote=quote, actor=actor)


def main(renders: int = 200) -> float:
    _django_setup()
    from bench.pdf_ceiling import compare_rates, render_plain_reportlab
    from quotes.pdf import QuotePdfRenderer
    from quotes.selectors import quote_for_document
    from quotes.services.documents import quote_document

    number = _sent_quote().number
    renderer = QuotePdfRenderer()

    def through_the_renderer():
        # What the PDF view and the e-mail do (quote_render_by_number), with the renderer instance reused.
        return renderer.render(quote_document(quote=quote_for_document(number=number)))

    frozen = quote_document(quote=quote_for_document(number=number))
    rates = compare_rates(
        {"renderer": through_the_renderer, "plain": lambda: render_plain_reportlab(frozen)}, renders
    )
    ratio = rates["renderer"] / rates["plain"]
    print(f"database: {os.environ.get('DATABASE_URL', 'temporary SQLite').split('@')[-1]}")
    print(f"renderer with database reads: {rates['renderer']:7.1f} pdfs/second ({renders} renders)")
    print(f"plain reportlab:              {rates['plain']:7.1f} pdfs/second ({renders} renders)")
    print(f"ratio renderer/plain: {ratio:.2f} (goal ≥ {GOAL})")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
