"""御見積書 (quote) PDF renderer.

The renderer turns a frozen `QuoteDocument` into PDF bytes and nothing else: every
amount arrives already computed (tax per rate, totals), so what is printed is
exactly what was frozen on the quote. It imports no Django code, so it can be
used and tested without settings.

Japanese text uses IPAexGothic, shipped in quotes/fonts/ with its licence, and
embedded as a subset in every PDF so no viewer font is needed.
"""

import functools
import re
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Spacer, Table, TableStyle

FONT_DIR = Path(__file__).resolve().parent / "fonts"
JAPANESE_FONT_NAME = "IPAexGothic"
JAPANESE_FONT_PATH = FONT_DIR / "ipaexg.ttf"

CONTENT_TYPE = "application/pdf"
REDUCED_RATE_MARK = "※"
# U+00A5: the yen sign Japanese business documents print; IPAexGothic has it.
YEN = "¥"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
# 品名 / 数量 / 単位 / 単価 / 金額; together they fill CONTENT_WIDTH (180 mm).
LINE_COLUMN_WIDTHS = (90 * mm, 18 * mm, 20 * mm, 25 * mm, 27 * mm)
LINE_HEADER = ("品名", "数量", "単位", "単価", "金額")
CELL_PADDING = 6  # reportlab's default left and right cell padding
HEADER_GREY = colors.HexColor("#E8E8E8")
RULE_GREY = colors.HexColor("#808080")
NOTE_GREY = "#555555"
DRAFT_MARK = "見本  DRAFT"
DRAFT_RED = colors.Color(0.75, 0.1, 0.1)


@dataclass(frozen=True)
class Issuer:
    name: str
    postal_code: str
    address: str
    phone: str
    registration_number: str  # "T" + 13 digits (qualified invoice issuer number)


@dataclass(frozen=True)
class DocumentLine:
    name: str
    quantity: int
    unit: str
    unit_price: int  # yen
    amount: int  # yen, already discounted if any
    tax_rate: int  # percent: 10 or 8
    note: str = ""


@dataclass(frozen=True)
class TaxRow:
    rate: int
    subtotal: int  # tax-exclusive sum of the amounts at this rate
    tax: int


@dataclass(frozen=True)
class QuoteDocument:
    number: str
    issue_date: date
    valid_until: date
    recipient_name: str
    recipient_is_company: bool  # True → 御中, False → 様
    issuer: Issuer
    lines: tuple[DocumentLine, ...]
    tax_rows: tuple[TaxRow, ...]  # one per rate present, highest rate first
    subtotal: int
    tax: int
    total: int
    payment_terms: str
    notes: str = ""
    discount: int = 0  # yen, already reflected in subtotal
    title: str = "御見積書"
    # Not an issued document (a quote not sent yet, an order's preview): every page says 見本 / DRAFT.
    draft: bool = False


@dataclass(frozen=True)
class RenderedDocument:
    filename: str
    content_type: str
    content: bytes


# --- formatting shared with bench/pdf_ceiling.py -------------------------------


@functools.cache
def register_japanese_font() -> str:
    """Register IPAexGothic once per process and return its reportlab name.

    Parsing the 6 MB TrueType file is the slowest step of a render, so it happens
    once; reportlab keeps per-document subset state on the font object itself.
    """
    pdfmetrics.registerFont(TTFont(JAPANESE_FONT_NAME, str(JAPANESE_FONT_PATH)))
    return JAPANESE_FONT_NAME


def format_yen(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{YEN}{abs(amount):,}"


def format_japanese_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def recipient_with_honorific(document: QuoteDocument) -> str:
    """Name plus exactly one honorific: 御中 for a company, 様 for a person.

    A name typed with its own honorific would otherwise print both, which a
    Japanese customer reads as a mistake.
    """
    name = re.sub(r"[\s\u3000]*(御中|様)$", "", document.recipient_name.strip())
    honorific = "御中" if document.recipient_is_company else "様"
    return f"{name}\u3000{honorific}"


def line_display_name(line: DocumentLine) -> str:
    mark = REDUCED_RATE_MARK if line.tax_rate == 8 else ""
    return f"{line.name}{mark}"


def has_reduced_rate_line(document: QuoteDocument) -> bool:
    return any(line.tax_rate == 8 for line in document.lines)


def reduced_rate_legend() -> str:
    return f"{REDUCED_RATE_MARK}は軽減税率(8%)対象"


def document_filename(number: str) -> str:
    # Keep the name safe for Content-Disposition and file storage.
    safe_number = re.sub(r"[^A-Za-z0-9_-]", "_", number)
    return f"quote-{safe_number}.pdf"


# --- paragraph styles -------------------------------------------------------------


def _style(name: str, size: float, **extra) -> ParagraphStyle:
    # wordWrap="CJK" lets Japanese text break between any two characters.
    return ParagraphStyle(
        name, fontName=JAPANESE_FONT_NAME, fontSize=size, leading=size * 1.4, wordWrap="CJK", **extra
    )


CELL_FONT_SIZE = 9
CELL_STYLE = _style("cell", CELL_FONT_SIZE)
LABEL_STYLE = _style("label", 9.5)
# The border is drawn borderPadding outside the text; the indents keep it inside the margins.
NOTES_STYLE = _style(
    "notes", 9, borderWidth=0.5, borderColor=RULE_GREY, borderPadding=5, leftIndent=5, rightIndent=5
)


# --- page footer ------------------------------------------------------------------


class _FooterCanvas(Canvas):
    """Canvas that writes "n / total" on every page once the page count is known.

    Pages are kept in memory until save(); that is the usual reportlab way to print
    the total without building the document twice.
    """

    def __init__(self, *args, document_number: str, draft: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._document_number = document_number
        self._draft = draft
        self._pages = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        page_count = len(self._pages)
        for page in self._pages:
            self.__dict__.update(page)
            self._draw_footer(page_count)
            if self._draft:
                self._draw_draft_mark()
            super().showPage()
        super().save()

    def _draw_footer(self, page_count: int):
        self.setFont(JAPANESE_FONT_NAME, 8)
        self.setFillColor(colors.black)
        baseline = MARGIN / 2
        self.drawCentredString(PAGE_WIDTH / 2, baseline, f"{self.getPageNumber()} / {page_count}")
        self.drawRightString(PAGE_WIDTH - MARGIN, baseline, self._document_number)

    def _draw_draft_mark(self):
        """見本 / DRAFT across the page, faint enough to read the amounts through, and in the footer."""
        self.saveState()
        self.setFillColor(DRAFT_RED)
        self.setFont(JAPANESE_FONT_NAME, 9)
        self.drawString(MARGIN, MARGIN / 2, DRAFT_MARK)
        self.setFillAlpha(0.13)
        self.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        self.rotate(35)
        self.setFont(JAPANESE_FONT_NAME, 96)
        self.drawCentredString(0, -30, DRAFT_MARK)
        self.restoreState()


# --- first-page header --------------------------------------------------------------
#
# The header sits at fixed places like a printed form, so it is drawn straight on
# the canvas (as pretix does for invoices); only the parts that can grow (the
# lines, totals and notes) are flowables. This also keeps rendering fast: laying
# the header out with nested tables and paragraphs cost a quarter of a render.

TOP = PAGE_HEIGHT - MARGIN
RIGHT = PAGE_WIDTH - MARGIN
HEADER_HEIGHT = 74 * mm  # from the top margin to the top of the lines table
RECIPIENT_WIDTH = 95 * mm
ISSUER_LEFT = MARGIN + 110 * mm
ISSUER_WIDTH = RIGHT - ISSUER_LEFT
AMOUNT_LABEL_WIDTH = 27 * mm
AMOUNT_BOX_HEIGHT = 34


def _draw_fitted_string(
    canvas: Canvas, x: float, y: float, text: str, size: float, max_width: float, align: str = "left"
):
    """Draw one line, shrinking the font when the text is wider than max_width.

    Japanese forms shrink a long name rather than wrap it; this keeps every
    header item inside its own area whatever the data.
    """
    width = stringWidth(text, JAPANESE_FONT_NAME, size)
    if width > max_width:
        size = size * max_width / width
    canvas.setFont(JAPANESE_FONT_NAME, size)
    if align == "right":
        canvas.drawRightString(x, y, text)
    elif align == "centre":
        canvas.drawCentredString(x, y, text)
    else:
        canvas.drawString(x, y, text)


def _draw_number_and_date(canvas: Canvas, document: QuoteDocument):
    left = RIGHT - 60 * mm
    rows = (("見積番号", document.number), ("発行日", format_japanese_date(document.issue_date)))
    canvas.setStrokeColor(RULE_GREY)
    canvas.setLineWidth(0.5)
    for index, (label, value) in enumerate(rows):
        baseline = TOP - 9 - index * 16
        canvas.setFont(JAPANESE_FONT_NAME, 9)
        canvas.drawString(left, baseline, label)
        _draw_fitted_string(canvas, RIGHT, baseline, value, 9, 40 * mm, align="right")
        canvas.line(left, baseline - 4, RIGHT, baseline - 4)


def _draw_recipient(canvas: Canvas, document: QuoteDocument):
    _draw_fitted_string(canvas, MARGIN, TOP - 92, recipient_with_honorific(document), 15, RECIPIENT_WIDTH)
    # Underlined across the whole area, as on printed forms.
    canvas.setStrokeColor(colors.black)
    canvas.setLineWidth(1)
    canvas.line(MARGIN, TOP - 98, MARGIN + RECIPIENT_WIDTH, TOP - 98)
    canvas.setFont(JAPANESE_FONT_NAME, 9.5)
    canvas.drawString(MARGIN, TOP - 116, "下記の通りお見積り申し上げます。")


def _draw_quoted_amount(canvas: Canvas, document: QuoteDocument):
    box_bottom = TOP - 130 - AMOUNT_BOX_HEIGHT
    canvas.setFillColor(HEADER_GREY)
    canvas.rect(MARGIN, box_bottom, AMOUNT_LABEL_WIDTH, AMOUNT_BOX_HEIGHT, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.setLineWidth(0.5)
    label_right = MARGIN + AMOUNT_LABEL_WIDTH
    canvas.line(label_right, box_bottom, label_right, box_bottom + AMOUNT_BOX_HEIGHT)
    canvas.setLineWidth(1.5)
    canvas.rect(MARGIN, box_bottom, RECIPIENT_WIDTH, AMOUNT_BOX_HEIGHT)

    canvas.setFont(JAPANESE_FONT_NAME, 11)
    canvas.drawCentredString(MARGIN + AMOUNT_LABEL_WIDTH / 2, box_bottom + 13, "お見積金額")
    amount_right = MARGIN + RECIPIENT_WIDTH - 8
    amount_width = RECIPIENT_WIDTH - AMOUNT_LABEL_WIDTH - 16
    total = f"{format_yen(document.total)}（税込）"
    _draw_fitted_string(canvas, amount_right, box_bottom + 11, total, 17, amount_width, align="right")
    canvas.setFont(JAPANESE_FONT_NAME, 10)
    canvas.drawRightString(MARGIN + RECIPIENT_WIDTH, box_bottom - 14, f"内消費税 {format_yen(document.tax)}")


def _draw_issuer(canvas: Canvas, issuer: Issuer):
    _draw_fitted_string(canvas, ISSUER_LEFT, TOP - 92, issuer.name, 11.5, ISSUER_WIDTH)
    details = (
        f"〒{issuer.postal_code}",
        issuer.address,
        f"TEL {issuer.phone}",
        f"登録番号 {issuer.registration_number}",
    )
    for index, text in enumerate(details):
        _draw_fitted_string(canvas, ISSUER_LEFT, TOP - 108 - index * 12.6, text, 9, ISSUER_WIDTH)


def _draw_first_page_header(canvas: Canvas, document: QuoteDocument):
    canvas.saveState()
    _draw_number_and_date(canvas, document)
    _draw_fitted_string(canvas, PAGE_WIDTH / 2, TOP - 58, document.title, 22, CONTENT_WIDTH, align="centre")
    _draw_recipient(canvas, document)
    _draw_quoted_amount(canvas, document)
    _draw_issuer(canvas, document.issuer)
    canvas.restoreState()


# --- flowing sections -----------------------------------------------------------------


def _table(rows: list, col_widths: tuple, commands: list, **options) -> Table:
    """A Table whose cells default to the Japanese font.

    reportlab's default cell font is Helvetica; left in place it gets declared in
    the PDF, unembedded, even when only empty cells use it.
    """
    table = Table(rows, colWidths=col_widths, **options)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), JAPANESE_FONT_NAME, CELL_FONT_SIZE), *commands]))
    return table


def _text_cell(text: str, text_width: float) -> str | Paragraph:
    """A plain string when the text fits on one line, else a wrapping Paragraph.

    Most texts fit, and a string cell costs a fraction of a Paragraph (which is
    parsed, then measured character by character on every wrap).
    """
    if stringWidth(text, JAPANESE_FONT_NAME, CELL_FONT_SIZE) <= text_width:
        return text
    return Paragraph(escape(text), CELL_STYLE)


NOTE_FONT_SIZE = 7.5


class _NameOverNote(Flowable):
    """A line's name with its note under it in smaller, grey type, when both fit on one line each.

    Two drawString calls, placed as the Paragraph below places them (lines
    CELL_STYLE.leading apart), at a fraction of its cost: a Paragraph in a
    table cell is parsed, then wrapped character by character each time the
    table measures it.
    """

    def __init__(self, name: str, note: str):
        super().__init__()
        self.name, self.note = name, note

    def wrap(self, available_width, available_height):
        width = max(
            stringWidth(self.name, JAPANESE_FONT_NAME, CELL_FONT_SIZE),
            stringWidth(self.note, JAPANESE_FONT_NAME, NOTE_FONT_SIZE),
        )
        return width, 2 * CELL_STYLE.leading

    def draw(self):
        first_baseline = 2 * CELL_STYLE.leading - CELL_FONT_SIZE
        self.canv.setFont(JAPANESE_FONT_NAME, CELL_FONT_SIZE)
        self.canv.drawString(0, first_baseline, self.name)
        self.canv.setFont(JAPANESE_FONT_NAME, NOTE_FONT_SIZE)
        self.canv.setFillColor(colors.HexColor(NOTE_GREY))
        self.canv.drawString(0, first_baseline - CELL_STYLE.leading, self.note)


def _line_name_cell(line: DocumentLine) -> str | Flowable:
    name = line_display_name(line)
    text_width = LINE_COLUMN_WIDTHS[0] - 2 * CELL_PADDING
    if not line.note:
        return _text_cell(name, text_width)
    if (
        stringWidth(name, JAPANESE_FONT_NAME, CELL_FONT_SIZE) <= text_width
        and stringWidth(line.note, JAPANESE_FONT_NAME, NOTE_FONT_SIZE) <= text_width
    ):
        return _NameOverNote(name, line.note)
    # Too long for one line: a Paragraph wraps them.
    note = f'<font size="{NOTE_FONT_SIZE}" color="{NOTE_GREY}">{escape(line.note)}</font>'
    return Paragraph(f"{escape(name)}<br/>{note}", CELL_STYLE)


def _lines_table(document: QuoteDocument) -> Table:
    rows = [list(LINE_HEADER)]
    for line in document.lines:
        rows.append(
            [
                _line_name_cell(line),
                f"{line.quantity:,}",
                line.unit,
                format_yen(line.unit_price),
                format_yen(line.amount),
            ]
        )
    commands = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_GREY),
        ("ALIGN", (0, 0), (-1, 0), "CENTER"),
        ("ALIGN", (1, 1), (1, -1), "RIGHT"),
        ("ALIGN", (2, 1), (2, -1), "CENTER"),
        ("ALIGN", (3, 1), (4, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 0), (-1, -1), 0.5, RULE_GREY),
        ("BOX", (0, 0), (-1, -1), 1, colors.black),
    ]
    # repeatRows=1: the header row is drawn again at the top of every continuation page.
    return _table(rows, LINE_COLUMN_WIDTHS, commands, repeatRows=1)


def _totals_rows(document: QuoteDocument) -> list[list[str]]:
    """Rows of legend / label / amount / tax label / tax amount under the lines table.

    The whole-document discount is already inside `subtotal`, so it is listed
    before 小計 to let the reader follow: lines, minus discount, gives the subtotal.
    Rows with a single amount leave the last two cells empty. The first column
    holds the ※ legend on the first row and is otherwise blank.
    """
    rows = []
    if document.discount > 0:
        rows.append(["値引", format_yen(-document.discount), "", ""])
    rows.append(["小計", format_yen(document.subtotal), "", ""])
    for tax_row in document.tax_rows:
        rows.append([f"{tax_row.rate}%対象", format_yen(tax_row.subtotal), "消費税", format_yen(tax_row.tax)])
    rows.append(["合計", format_yen(document.total), "", ""])

    legend = reduced_rate_legend() if has_reduced_rate_line(document) else ""
    return [[legend if index == 0 else "", *row] for index, row in enumerate(rows)]


def _totals_table(document: QuoteDocument) -> Table:
    rows = _totals_rows(document)
    commands = [
        ("FONTSIZE", (0, 0), (0, 0), 8),
        ("LEFTPADDING", (0, 0), (0, 0), 0),
        ("ALIGN", (2, 0), (2, -1), "RIGHT"),
        ("ALIGN", (4, 0), (4, -1), "RIGHT"),
        ("LINEBELOW", (1, 0), (-1, -1), 0.5, RULE_GREY),
        ("BACKGROUND", (1, 0), (1, -1), HEADER_GREY),
        ("FONT", (1, -1), (-1, -1), JAPANESE_FONT_NAME, 11, 14),
        ("LINEABOVE", (1, -1), (-1, -1), 1, colors.black),
        ("LINEBELOW", (1, -1), (-1, -1), 1, colors.black),
    ]
    for index, row in enumerate(rows):
        if row[3] == "":
            # A single amount spans to the right edge, under the tax amounts.
            commands.append(("SPAN", (2, index), (4, index)))
    totals_width = 89 * mm
    col_widths = (CONTENT_WIDTH - totals_width, 20 * mm, 27 * mm, 15 * mm, 27 * mm)
    return _table(rows, col_widths, commands)


def _terms_table(document: QuoteDocument) -> Table:
    rows = [
        ["有効期限", format_japanese_date(document.valid_until)],
        ["お支払条件", _text_cell(document.payment_terms, CONTENT_WIDTH - 25 * mm - 2 * CELL_PADDING)],
    ]
    commands = [
        ("BACKGROUND", (0, 0), (0, -1), HEADER_GREY),
        ("GRID", (0, 0), (-1, -1), 0.5, RULE_GREY),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    return _table(rows, (25 * mm, CONTENT_WIDTH - 25 * mm), commands)


def _notes(notes: str) -> list:
    if not notes.strip():
        return []
    # A Paragraph (not a table cell) so very long notes can continue on the next page.
    text = "<br/>".join(escape(line) for line in notes.strip().splitlines())
    return [
        Spacer(1, 5 * mm),
        Paragraph("備考", LABEL_STYLE),
        Spacer(1, 2 * mm),
        Paragraph(text, NOTES_STYLE),
    ]


def _story(document: QuoteDocument) -> list:
    return [
        _lines_table(document),
        Spacer(1, 3 * mm),
        _totals_table(document),
        Spacer(1, 6 * mm),
        _terms_table(document),
        *_notes(document.notes),
    ]


def _content_frame(height: float) -> Frame:
    # No frame padding, so paragraphs and full-width tables share the same left edge.
    return Frame(
        MARGIN,
        MARGIN,
        CONTENT_WIDTH,
        height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )


def _page_templates(document: QuoteDocument) -> list[PageTemplate]:
    full_height = PAGE_HEIGHT - 2 * MARGIN
    first_page = PageTemplate(
        id="first",
        frames=[_content_frame(full_height - HEADER_HEIGHT)],
        onPage=lambda canvas, _template: _draw_first_page_header(canvas, document),
        autoNextPageTemplate="later",
    )
    later_pages = PageTemplate(id="later", frames=[_content_frame(full_height)])
    return [first_page, later_pages]


class QuotePdfRenderer:
    """Frozen `QuoteDocument` → `RenderedDocument` (filename, content type, PDF bytes)."""

    def render(self, document: QuoteDocument) -> RenderedDocument:
        register_japanese_font()
        buffer = BytesIO()
        template = BaseDocTemplate(
            buffer,
            pagesize=A4,
            pageTemplates=_page_templates(document),
            title=f"{document.title} {document.number}",
            author=document.issuer.name,
            subject=document.recipient_name,
            creator="Orderdesk",
            lang="ja-JP",
            # Without this reportlab declares an unembedded Helvetica it never uses.
            initialFontName=JAPANESE_FONT_NAME,
        )
        template.build(
            _story(document),
            canvasmaker=functools.partial(_FooterCanvas, document_number=document.number, draft=document.draft),
        )
        return RenderedDocument(
            filename=document_filename(document.number),
            content_type=CONTENT_TYPE,
            content=buffer.getvalue(),
        )
