"""The quote PDF drawn with plain reportlab canvas calls: the speed ceiling.

`render_plain_reportlab` draws the same content as `quotes.pdf.QuotePdfRenderer`
(same font, same table, same totals) in the most direct way: fixed row heights,
no flowables, no layout negotiation. Benchmarks compare the renderer against it.

Run from the project root to compare both:

    .venv/bin/python -m bench.pdf_ceiling
"""

import time
from datetime import date
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from quotes.pdf import (
    CONTENT_WIDTH,
    HEADER_GREY,
    JAPANESE_FONT_NAME,
    LINE_COLUMN_WIDTHS,
    LINE_HEADER,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RULE_GREY,
    DocumentLine,
    Issuer,
    QuoteDocument,
    QuotePdfRenderer,
    TaxRow,
    format_japanese_date,
    format_yen,
    has_reduced_rate_line,
    line_display_name,
    recipient_with_honorific,
    reduced_rate_legend,
    register_japanese_font,
)

FONT = JAPANESE_FONT_NAME
LEFT = MARGIN
RIGHT = PAGE_WIDTH - MARGIN
TOP = PAGE_HEIGHT - MARGIN
BOTTOM = MARGIN
ROW_HEIGHT = 16
ROW_WITH_NOTE_HEIGHT = 26
TOTALS_ROW_HEIGHT = 16
FIRST_PAGE_TABLE_TOP = TOP - 90 * mm
NOTES_LINE_HEIGHT = 12.6


def _line_height(line: DocumentLine) -> float:
    return ROW_WITH_NOTE_HEIGHT if line.note else ROW_HEIGHT


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Break text at any character to fit width, as Japanese allows."""
    lines = []
    for paragraph in text.strip().splitlines():
        current = ""
        for character in paragraph:
            if current and stringWidth(current + character, FONT, size) > width:
                lines.append(current)
                current = character
            else:
                current += character
        lines.append(current)
    return lines


def _tail_height(document: QuoteDocument, notes_lines: list[str]) -> float:
    totals_rows = 2 + len(document.tax_rows) + (1 if document.discount > 0 else 0)
    terms = 10 * mm + 2 * ROW_HEIGHT
    notes = (12 * mm + len(notes_lines) * NOTES_LINE_HEIGHT) if notes_lines else 0
    return 4 * mm + totals_rows * TOTALS_ROW_HEIGHT + terms + notes


def _paginate(document: QuoteDocument, tail_height: float) -> tuple[list[list[DocumentLine]], bool]:
    """Split lines into pages; say whether the totals need a page of their own."""
    pages, current = [], []
    y = FIRST_PAGE_TABLE_TOP - ROW_HEIGHT
    for line in document.lines:
        if y - _line_height(line) < BOTTOM:
            pages.append(current)
            current, y = [], TOP - ROW_HEIGHT
        current.append(line)
        y -= _line_height(line)
    pages.append(current)
    return pages, y - tail_height < BOTTOM


def _draw_header(canvas: Canvas, document: QuoteDocument) -> None:
    canvas.setFont(FONT, 9)
    canvas.drawString(RIGHT - 60 * mm, TOP - 10, "見積番号")
    canvas.drawRightString(RIGHT, TOP - 10, document.number)
    canvas.drawString(RIGHT - 60 * mm, TOP - 24, "発行日")
    canvas.drawRightString(RIGHT, TOP - 24, format_japanese_date(document.issue_date))
    canvas.setFont(FONT, 22)
    canvas.drawCentredString(PAGE_WIDTH / 2, TOP - 60, document.title)

    canvas.setFont(FONT, 15)
    canvas.drawString(LEFT, TOP - 100, recipient_with_honorific(document))
    canvas.line(LEFT, TOP - 106, LEFT + 95 * mm, TOP - 106)
    canvas.setFont(FONT, 9.5)
    canvas.drawString(LEFT, TOP - 124, "下記の通りお見積り申し上げます。")

    box_top = TOP - 140
    canvas.setFillColor(HEADER_GREY)
    canvas.rect(LEFT, box_top - 34, 27 * mm, 34, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.setLineWidth(1.5)
    canvas.rect(LEFT, box_top - 34, 95 * mm, 34)
    canvas.setLineWidth(0.5)
    canvas.line(LEFT + 27 * mm, box_top, LEFT + 27 * mm, box_top - 34)
    canvas.setFont(FONT, 11)
    canvas.drawCentredString(LEFT + 13.5 * mm, box_top - 21, "お見積金額")
    canvas.setFont(FONT, 17)
    canvas.drawRightString(LEFT + 95 * mm - 6, box_top - 23, f"{format_yen(document.total)}（税込）")
    canvas.setFont(FONT, 10)
    canvas.drawRightString(LEFT + 95 * mm, box_top - 48, f"内消費税 {format_yen(document.tax)}")

    issuer = document.issuer
    x = LEFT + 110 * mm + 6
    canvas.setFont(FONT, 11.5)
    canvas.drawString(x, TOP - 104, issuer.name)
    canvas.setFont(FONT, 9)
    details = (
        f"〒{issuer.postal_code}",
        issuer.address,
        f"TEL {issuer.phone}",
        f"登録番号 {issuer.registration_number}",
    )
    for offset, text in enumerate(details):
        canvas.drawString(x, TOP - 120 - offset * 12.6, text)


def _column_edges() -> list[float]:
    edges = [LEFT]
    for width in LINE_COLUMN_WIDTHS:
        edges.append(edges[-1] + width)
    return edges


def _draw_table_header(canvas: Canvas, y: float) -> float:
    edges = _column_edges()
    canvas.setFillColor(HEADER_GREY)
    canvas.rect(LEFT, y - ROW_HEIGHT, CONTENT_WIDTH, ROW_HEIGHT, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.setFont(FONT, 9)
    for index, label in enumerate(LINE_HEADER):
        canvas.drawCentredString((edges[index] + edges[index + 1]) / 2, y - 11, label)
    return y - ROW_HEIGHT


def _draw_line(canvas: Canvas, line: DocumentLine, y: float) -> float:
    edges = _column_edges()
    height = _line_height(line)
    baseline = y - 11
    canvas.setFont(FONT, 9)
    canvas.drawString(edges[0] + 6, baseline, line_display_name(line))
    canvas.drawRightString(edges[2] - 6, baseline, f"{line.quantity:,}")
    canvas.drawCentredString((edges[2] + edges[3]) / 2, baseline, line.unit)
    canvas.drawRightString(edges[4] - 6, baseline, format_yen(line.unit_price))
    canvas.drawRightString(edges[5] - 6, baseline, format_yen(line.amount))
    if line.note:
        canvas.setFont(FONT, 7.5)
        canvas.drawString(edges[0] + 6, baseline - 11, line.note)
    return y - height


def _draw_grid(canvas: Canvas, top: float, bottom: float, row_tops: list[float]) -> None:
    canvas.setStrokeColor(RULE_GREY)
    canvas.setLineWidth(0.5)
    for x in _column_edges():
        canvas.line(x, top, x, bottom)
    for y in row_tops:
        canvas.line(LEFT, y, RIGHT, y)
    canvas.setStrokeColor(colors.black)
    canvas.setLineWidth(1)
    canvas.rect(LEFT, bottom, CONTENT_WIDTH, top - bottom)


def _draw_lines_page(canvas: Canvas, lines: list[DocumentLine], top: float) -> float:
    y = _draw_table_header(canvas, top)
    row_tops = [y]
    for line in lines:
        y = _draw_line(canvas, line, y)
        row_tops.append(y)
    _draw_grid(canvas, top, y, row_tops)
    return y


def _draw_totals(canvas: Canvas, document: QuoteDocument, y: float) -> float:
    rows = []
    if document.discount > 0:
        rows.append(("値引", format_yen(-document.discount), "", ""))
    rows.append(("小計", format_yen(document.subtotal), "", ""))
    for tax_row in document.tax_rows:
        rows.append((f"{tax_row.rate}%対象", format_yen(tax_row.subtotal), "消費税", format_yen(tax_row.tax)))
    rows.append(("合計", format_yen(document.total), "", ""))

    if has_reduced_rate_line(document):
        canvas.setFont(FONT, 8)
        canvas.drawString(LEFT, y - 10, reduced_rate_legend())
    x = RIGHT - 89 * mm
    canvas.setStrokeColor(RULE_GREY)
    canvas.setLineWidth(0.5)
    for label, amount, tax_label, tax_amount in rows:
        canvas.setFont(FONT, 9)
        canvas.drawString(x + 6, y - 11, label)
        if tax_label:
            canvas.drawRightString(x + 47 * mm - 6, y - 11, amount)
            canvas.drawString(x + 47 * mm + 6, y - 11, tax_label)
            canvas.drawRightString(RIGHT - 6, y - 11, tax_amount)
        else:
            canvas.drawRightString(RIGHT - 6, y - 11, amount)
        y -= TOTALS_ROW_HEIGHT
        canvas.line(x, y, RIGHT, y)
    canvas.setStrokeColor(colors.black)
    return y


def _draw_terms_and_notes(canvas: Canvas, document: QuoteDocument, notes_lines: list[str], y: float) -> None:
    y -= 6 * mm
    canvas.setFont(FONT, 9)
    for label, value in (
        ("有効期限", format_japanese_date(document.valid_until)),
        ("お支払条件", document.payment_terms),
    ):
        canvas.rect(LEFT, y - ROW_HEIGHT, CONTENT_WIDTH, ROW_HEIGHT)
        canvas.drawString(LEFT + 6, y - 11, label)
        canvas.drawString(LEFT + 25 * mm + 6, y - 11, value)
        y -= ROW_HEIGHT
    if not notes_lines:
        return
    y -= 5 * mm
    canvas.drawString(LEFT, y - 10, "備考")
    y -= 7 * mm
    box_height = len(notes_lines) * NOTES_LINE_HEIGHT + 10
    canvas.rect(LEFT, y - box_height, CONTENT_WIDTH, box_height)
    for text in notes_lines:
        canvas.drawString(LEFT + 5, y - 14, text)
        y -= NOTES_LINE_HEIGHT


def _draw_footer(canvas: Canvas, document: QuoteDocument, page_number: int, page_count: int) -> None:
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(PAGE_WIDTH / 2, MARGIN / 2, f"{page_number} / {page_count}")
    canvas.drawRightString(RIGHT, MARGIN / 2, document.number)


def render_plain_reportlab(doc_data: QuoteDocument) -> bytes:
    register_japanese_font()
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, initialFontName=FONT)
    canvas.setTitle(f"{doc_data.title} {doc_data.number}")
    canvas.setAuthor(doc_data.issuer.name)

    notes_lines = _wrap(doc_data.notes, CONTENT_WIDTH - 10, 9) if doc_data.notes.strip() else []
    pages, tail_needs_own_page = _paginate(doc_data, _tail_height(doc_data, notes_lines))
    page_count = len(pages) + (1 if tail_needs_own_page else 0)

    _draw_header(canvas, doc_data)
    y = FIRST_PAGE_TABLE_TOP
    for page_number, lines in enumerate(pages, start=1):
        if page_number > 1:
            y = TOP
        y = _draw_lines_page(canvas, lines, y)
        if page_number < len(pages):
            _draw_footer(canvas, doc_data, page_number, page_count)
            canvas.showPage()
    if tail_needs_own_page:
        _draw_footer(canvas, doc_data, len(pages), page_count)
        canvas.showPage()
        y = TOP
    y = _draw_totals(canvas, doc_data, y - 3 * mm)
    _draw_terms_and_notes(canvas, doc_data, notes_lines, y)
    _draw_footer(canvas, doc_data, page_count, page_count)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def example_document() -> QuoteDocument:
    """A typical quote: three lines, one at the reduced 8% rate, a company recipient, notes."""
    issuer = Issuer(
        name="株式会社オーダーデスク",
        postal_code="100-0001",
        address="東京都千代田区千代田1-1",
        phone="03-1234-5678",
        registration_number="T1234567890123",
    )
    lines = (
        DocumentLine("セキュアリモートアクセス 1年ライセンス", 50, "ユーザー", 12000, 540000, 10, "値引 10%"),
        DocumentLine("導入支援サービス（リモート・オンサイト併用）", 1, "式", 300000, 300000, 10),
        DocumentLine("会議用お茶菓子セット", 10, "箱", 1080, 10800, 8),
    )
    return QuoteDocument(
        number="Q-2026-000045-R2",
        issue_date=date(2026, 11, 29),
        valid_until=date(2026, 12, 29),
        recipient_name="株式会社サンプル",
        recipient_is_company=True,
        issuer=issuer,
        lines=lines,
        tax_rows=(TaxRow(rate=10, subtotal=820000, tax=82000), TaxRow(rate=8, subtotal=10800, tax=864)),
        subtotal=830800,
        tax=82864,
        total=913664,
        payment_terms="月末締め翌月末払い",
        notes="本見積の有効期限内にご発注ください。\nライセンスはご発注後、5営業日以内に発行いたします。",
        discount=20000,
    )


def compare_rates(contenders: dict, renders: int, rounds: int = 5) -> dict[str, float]:
    """Renders per second of each contender (a no-argument callable), `renders` of each.

    The contenders alternate in rounds so that a slow patch of the machine
    (another process, CPU frequency) hits all of them rather than whichever
    happened to run then.
    """
    for render in contenders.values():
        render()  # warm-up: font parsing and imports are not part of a render
    seconds = dict.fromkeys(contenders, 0.0)
    per_round = renders // rounds
    for _ in range(rounds):
        for name, render in contenders.items():
            started = time.perf_counter()
            for _ in range(per_round):
                render()
            seconds[name] += time.perf_counter() - started
    done = per_round * rounds
    return {name: done / spent for name, spent in seconds.items()}


def _compare(document: QuoteDocument, renders: int, rounds: int = 5) -> tuple[float, float]:
    """PDFs per second for (renderer, plain), `renders` of each."""
    renderer = QuotePdfRenderer()
    rates = compare_rates(
        {"renderer": lambda: renderer.render(document), "plain": lambda: render_plain_reportlab(document)},
        renders,
        rounds,
    )
    return rates["renderer"], rates["plain"]


if __name__ == "__main__":
    renders = 200
    renderer_rate, plain_rate = _compare(example_document(), renders)
    print(f"renderer:        {renderer_rate:7.1f} pdfs/second ({renders} renders)")
    print(f"plain reportlab: {plain_rate:7.1f} pdfs/second ({renders} renders)")
    print(f"ratio renderer/plain: {renderer_rate / plain_rate:.2f}")
