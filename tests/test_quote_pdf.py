"""御見積書 PDF: what a customer sees, checked through poppler's pdftotext/pdffonts."""

import dataclasses
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics

from quotes.pdf import (
    JAPANESE_FONT_PATH,
    DocumentLine,
    Issuer,
    QuoteDocument,
    QuotePdfRenderer,
    TaxRow,
    register_japanese_font,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

requires_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="poppler-utils (pdftotext, pdffonts, pdfinfo) is not installed; CI installs it",
)

ISSUER = Issuer(
    name="株式会社オーダーデスク",
    postal_code="100-0001",
    address="東京都千代田区千代田1-1",
    phone="03-1234-5678",
    registration_number="T1234567890123",
)

LICENCE_LINE = DocumentLine(
    name="セキュアリモートアクセス 1年ライセンス",
    quantity=50,
    unit="ユーザー",
    unit_price=12000,
    amount=600000,
    tax_rate=10,
)
SERVICE_LINE = DocumentLine(
    name="導入支援サービス（遠隔設定）",
    quantity=1,
    unit="式",
    unit_price=522334,
    amount=522334,
    tax_rate=10,
    note="値引 10%",
)
REDUCED_RATE_LINE = DocumentLine(
    name="会議用お茶菓子セット",
    quantity=10,
    unit="箱",
    unit_price=1080,
    amount=10800,
    tax_rate=8,
)


def make_document(**changes) -> QuoteDocument:
    """A company quote, 10% only: 1,122,334 + tax 112,233 = 1,234,567."""
    document = QuoteDocument(
        number="Q-2026-000045-R2",
        issue_date=date(2026, 11, 29),
        valid_until=date(2026, 12, 29),
        recipient_name="株式会社サンプル",
        recipient_is_company=True,
        issuer=ISSUER,
        lines=(LICENCE_LINE, SERVICE_LINE),
        tax_rows=(TaxRow(rate=10, subtotal=1122334, tax=112233),),
        subtotal=1122334,
        tax=112233,
        total=1234567,
        payment_terms="月末締め翌月末払い",
        notes="ご発注後、5営業日以内にライセンスを発行いたします。\n保守は別途お見積りいたします。",
    )
    return dataclasses.replace(document, **changes)


def make_document_with_reduced_rate(**changes) -> QuoteDocument:
    return make_document(
        lines=(LICENCE_LINE, REDUCED_RATE_LINE),
        tax_rows=(TaxRow(rate=10, subtotal=600000, tax=60000), TaxRow(rate=8, subtotal=10800, tax=864)),
        subtotal=610800,
        tax=60864,
        total=671664,
        **changes,
    )


def render(document: QuoteDocument) -> bytes:
    return QuotePdfRenderer().render(document).content


def write_pdf(document: QuoteDocument, directory: Path) -> Path:
    path = directory / "quote.pdf"
    path.write_bytes(render(document))
    return path


def pdf_pages_text(document: QuoteDocument, directory: Path) -> list[str]:
    """Text of each page, one line of the page per line, runs of spaces collapsed."""
    path = write_pdf(document, directory)
    output = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    pages = output.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return [re.sub(r"[ \t]+", " ", page) for page in pages]


def pdf_text(document: QuoteDocument, directory: Path) -> str:
    return "\n".join(pdf_pages_text(document, directory))


def pdf_fonts(document: QuoteDocument, directory: Path) -> list[dict]:
    path = write_pdf(document, directory)
    output = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    fonts = []
    for row in output.splitlines()[2:]:  # skip the two header lines
        columns = row.split()
        # name ... emb sub uni object-number generation
        fonts.append({"name": columns[0], "emb": columns[-5], "sub": columns[-4], "uni": columns[-3]})
    return fonts


def test_render_returns_a_pdf_named_after_the_document_number():
    rendered = QuotePdfRenderer().render(make_document())

    assert rendered.content.startswith(b"%PDF")
    assert rendered.filename == "quote-Q-2026-000045-R2.pdf"
    assert rendered.content_type == "application/pdf"


def test_filename_stays_safe_whatever_the_number_contains():
    rendered = QuotePdfRenderer().render(make_document(number="O-2026/000123 ✓"))

    assert re.fullmatch(r"quote-[A-Za-z0-9_-]+\.pdf", rendered.filename)


@requires_poppler
def test_title_issuer_and_registration_number_are_printed(tmp_path):
    text = pdf_text(make_document(), tmp_path)

    assert "御見積書" in text
    assert "見積番号" in text and "Q-2026-000045-R2" in text
    assert "株式会社オーダーデスク" in text
    assert "〒100-0001" in text
    assert "東京都千代田区千代田1-1" in text
    assert "TEL 03-1234-5678" in text
    assert re.search(r"登録番号 T\d{13}\b", text)
    assert "下記の通りお見積り申し上げます。" in text


@requires_poppler
def test_company_recipient_gets_onchu_and_never_sama(tmp_path):
    text = pdf_text(make_document(recipient_name="株式会社サンプル", recipient_is_company=True), tmp_path)

    assert re.search(r"株式会社サンプル\s*御中", text)
    assert "様" not in text


@requires_poppler
def test_person_recipient_gets_sama_and_never_onchu(tmp_path):
    text = pdf_text(make_document(recipient_name="山田 太郎", recipient_is_company=False), tmp_path)

    assert re.search(r"山田 太郎\s*様", text)
    assert "御中" not in text


@requires_poppler
def test_honorific_typed_into_the_name_is_not_printed_twice(tmp_path):
    text = pdf_text(make_document(recipient_name="株式会社サンプル 御中", recipient_is_company=True), tmp_path)

    assert text.count("御中") == 1


@requires_poppler
def test_product_names_in_kana_and_kanji_are_readable(tmp_path):
    text = pdf_text(make_document(), tmp_path)

    assert "セキュアリモートアクセス 1年ライセンス" in text
    assert "導入支援サービス（遠隔設定）" in text
    assert "値引 10%" in text  # the line note
    assert "ユーザー" in text
    assert "品名" in text and "数量" in text and "単位" in text and "単価" in text and "金額" in text


@requires_poppler
def test_amounts_are_yen_with_thousands_separators(tmp_path):
    text = pdf_text(make_document(), tmp_path)

    assert re.search(r"お見積金額 ¥1,234,567（税込）", text)
    assert "内消費税 ¥112,233" in text
    assert re.search(r"50 ユーザー ¥12,000 ¥600,000", text)
    assert re.search(r"小計 ¥1,122,334", text)
    assert re.search(r"10%対象 ¥1,122,334 消費税 ¥112,233", text)
    assert re.search(r"合計 ¥1,234,567", text)
    # U+00A5 only: the full-width yen sign would be inconsistent on the same page.
    assert "￥" not in text


@requires_poppler
def test_dates_are_written_the_japanese_way(tmp_path):
    text = pdf_text(make_document(issue_date=date(2026, 11, 29), valid_until=date(2027, 1, 5)), tmp_path)

    assert re.search(r"発行日 2026年11月29日", text)
    assert re.search(r"有効期限 2027年1月5日", text)


@requires_poppler
def test_payment_terms_and_multiline_notes_are_printed(tmp_path):
    long_note = "長い備考は枠の幅で折り返して表示されます。" * 6
    document = make_document(notes=f"一行目の備考です。\n{long_note}\n三行目の備考です。")

    text = pdf_text(document, tmp_path)

    assert "お支払条件 月末締め翌月末払い" in text
    assert "備考" in text
    assert "一行目の備考です。" in text
    assert "三行目の備考です。" in text
    assert text.index("一行目の備考です。") < text.index("三行目の備考です。")
    assert re.sub(r"\s", "", text).count("長い備考は枠の幅で折り返して表示されます。") == 6


@requires_poppler
def test_japanese_font_is_embedded_as_a_subset(tmp_path):
    fonts = pdf_fonts(make_document_with_reduced_rate(), tmp_path)

    assert fonts, "the PDF declares no font"
    for font in fonts:
        # Every font is IPAexGothic: no unembedded Helvetica left over from reportlab defaults.
        assert re.fullmatch(r"[A-Z]{6}\+IPAexGothic", font["name"]), font
        assert (font["emb"], font["sub"], font["uni"]) == ("yes", "yes", "yes"), font


@requires_poppler
def test_reduced_rate_line_is_marked_and_gets_its_own_tax_row(tmp_path):
    text = pdf_text(make_document_with_reduced_rate(), tmp_path)

    assert "会議用お茶菓子セット※" in text
    assert "セキュアリモートアクセス 1年ライセンス※" not in text
    assert "※は軽減税率(8%)対象" in text
    assert re.search(r"10%対象 ¥600,000 消費税 ¥60,000", text)
    assert re.search(r"8%対象 ¥10,800 消費税 ¥864", text)
    assert text.index("10%対象") < text.index("8%対象")


@requires_poppler
def test_standard_rate_only_document_has_no_reduced_rate_marks(tmp_path):
    text = pdf_text(make_document(), tmp_path)

    assert "※" not in text
    assert "8%対象" not in text


@requires_poppler
def test_discount_row_is_shown_only_when_there_is_a_discount(tmp_path):
    with_discount = pdf_text(make_document(discount=30000), tmp_path)
    without_discount = pdf_text(make_document(discount=0), tmp_path)

    assert re.search(r"値引 -¥30,000", with_discount)
    assert not re.search(r"値引 -?¥", without_discount)


@requires_poppler
def test_long_document_flows_onto_more_pages_with_the_header_repeated(tmp_path):
    lines = tuple(
        DocumentLine(f"追加ライセンス {number}", quantity=1, unit="本", unit_price=1000, amount=1000, tax_rate=10)
        for number in range(1, 61)
    )

    pages = pdf_pages_text(make_document(lines=lines), tmp_path)

    pages_with_lines = [page for page in pages if "追加ライセンス" in page]
    assert len(pages_with_lines) >= 2
    for page in pages_with_lines:
        assert "品名 数量 単位 単価 金額" in page, "table header missing on a page"
    assert sum(len(re.findall(r"追加ライセンス \d+ ", page)) for page in pages) == 60
    for page_number, page in enumerate(pages, start=1):
        # Drawn as "1 / 2"; pdftotext may close up the spaces around the slash.
        assert re.search(rf"\b{page_number}\s*/\s*{len(pages)}\b", page), f"no page number on page {page_number}"
    assert "御見積書" in pages[0]
    assert not any("御見積書" in page for page in pages[1:])


@requires_poppler
def test_pdf_metadata_names_the_document_and_the_issuer(tmp_path):
    path = write_pdf(make_document(), tmp_path)

    info = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, check=True, text=True
    ).stdout

    assert re.search(r"^Title:\s+御見積書 Q-2026-000045-R2$", info, re.MULTILINE)
    assert re.search(r"^Author:\s+株式会社オーダーデスク$", info, re.MULTILINE)


def test_font_is_registered_once_per_process():
    render(make_document())
    font = pdfmetrics.getFont(register_japanese_font())

    render(make_document())

    assert pdfmetrics.getFont(register_japanese_font()) is font


def test_font_file_ships_with_the_project():
    assert JAPANESE_FONT_PATH.is_file()
    assert JAPANESE_FONT_PATH.is_relative_to(PROJECT_ROOT / "quotes" / "fonts")
    assert (JAPANESE_FONT_PATH.parent / "IPA_Font_License_Agreement_v1.0.txt").is_file()


def test_renderer_imports_without_django():
    check = "import sys, quotes.pdf; sys.exit('django' in sys.modules)"

    # An empty environment: no DJANGO_SETTINGS_MODULE to lean on.
    result = subprocess.run([sys.executable, "-c", check], cwd=PROJECT_ROOT, env={}, capture_output=True)

    assert result.returncode == 0, result.stderr.decode()
