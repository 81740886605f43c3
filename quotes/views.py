"""Staff pages for quotes: thin views that bind forms, call quote services and render."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orderdesk.roles import MANAGER, SALES, has_role, role_required
from quotes.forms import QuoteEditor, QuoteHeaderForm, QuoteLineForm
from quotes.models import Quote, QuoteLine
from orderdesk.audit import Actor
from quotes.selectors import customer_search, quote_author_ids, quote_for_staff, quote_search, quotes_waiting_for_approval
from quotes.services.documents import quote_render_by_number
from quotes.services.editing import default_valid_until, quote_create, quote_revise, quote_update
from quotes.services.errors import QuoteActionNotAllowed, QuoteInvalid
from quotes.services.mail import quote_email_again, quote_email_state
from quotes.services.pricing import quote_price
from quotes.services.workflow import (
    quote_approve,
    quote_decline,
    quote_return,
    quote_send,
    quote_submit_for_approval,
    wrote_quote,
)

QUOTE_ROLES = (SALES, MANAGER)
BLANK_ROWS = 3


def _quote_or_404(number: str) -> Quote:
    quote = quote_for_staff(number=number)
    if quote is None:
        raise Http404
    return quote


@role_required(*QUOTE_ROLES)
@require_GET
def quote_list(request):
    status = request.GET.get("status", "")
    if status not in Quote.Status.values:
        status = ""
    text = request.GET.get("q", "")[:100]
    page = Paginator(quote_search(text=text, status=status), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "quotes/list.html",
        {"page": page, "q": text, "status": status, "statuses": Quote.Status.choices, "waiting": quotes_waiting_for_approval().count()},
    )


@role_required(*QUOTE_ROLES)
@require_http_methods(["GET", "POST"])
def quote_new(request):
    if request.method == "POST":
        editor = QuoteEditor.bind(request.POST)
        if editor.is_valid():
            try:
                quote = quote_create(actor=Actor.staff(request.user), **_quote_fields(editor))
            except QuoteInvalid as invalid:
                editor.show(invalid)
            else:
                messages.success(request, _("Quote %(number)s saved as a draft.") % {"number": quote.number})
                return redirect("quotes:detail", number=quote.number)
    else:
        editor = _blank_editor()
    return _render_editor(request, editor, quote=None)


@role_required(*QUOTE_ROLES)
@require_http_methods(["GET", "POST"])
def quote_edit(request, number):
    quote = _quote_or_404(number)
    if not quote.is_editable:
        messages.error(request, _("A quote that was submitted or sent cannot be edited; revise it instead."))
        return redirect("quotes:detail", number=quote.number)
    if request.method == "POST":
        editor = QuoteEditor.bind(request.POST)
        if editor.is_valid():
            try:
                quote = quote_update(quote=quote, actor=Actor.staff(request.user), **_quote_fields(editor))
            except QuoteInvalid as invalid:
                editor.show(invalid)
            except QuoteActionNotAllowed as refused:
                messages.error(request, refused.message)
                return redirect("quotes:detail", number=quote.number)
            else:
                messages.success(request, _("Quote %(number)s saved.") % {"number": quote.number})
                return redirect("quotes:detail", number=quote.number)
    else:
        editor = _editor_for(quote)
    return _render_editor(request, editor, quote=quote)


def _quote_fields(editor: QuoteEditor) -> dict:
    header = editor.header.cleaned_data
    return {
        "customer": header["customer"],
        "lines": editor.line_inputs(),
        "discount": header["discount"],
        "valid_until": header["valid_until"],
        "payment_terms": header["payment_terms"],
        "notes": header["notes"],
    }


def _blank_editor() -> QuoteEditor:
    header = QuoteHeaderForm(initial={"valid_until": default_valid_until(), "payment_terms": settings.QUOTE_PAYMENT_TERMS, "discount": 0})
    return QuoteEditor(header=header, rows=[QuoteLineForm(index=index) for index in range(BLANK_ROWS)])


def _editor_for(quote: Quote) -> QuoteEditor:
    header = QuoteHeaderForm(
        initial={
            "customer": quote.customer.code,
            "valid_until": quote.valid_until,
            "payment_terms": quote.payment_terms,
            "discount": quote.discount,
            "notes": quote.notes,
        }
    )
    rows = []
    for index, line in enumerate(quote.lines.all()):
        percent = bool(line.discount_percent) or not line.discount_yen
        rows.append(
            QuoteLineForm(
                index=index,
                initial={
                    "product": line.product_id,
                    "quantity": line.quantity,
                    "discount_kind": QuoteLine.DiscountKind.PERCENT if percent else QuoteLine.DiscountKind.YEN,
                    "discount_value": (line.discount_percent if percent else line.discount_yen) or None,
                },
            )
        )
    rows.append(QuoteLineForm(index=len(rows)))
    return QuoteEditor(header=header, rows=rows)


def _render_editor(request, editor: QuoteEditor, *, quote: Quote | None):
    return render(
        request,
        "quotes/form.html",
        {
            "editor": editor,
            "quote": quote,
            "preview": _preview(editor if editor.header.is_bound else QuoteEditor.bind(editor.as_data())),
            "next_index": max((row.index for row in editor.rows), default=-1) + 1,
            "customers": customer_search(text=""),
        },
    )


@role_required(*QUOTE_ROLES)
@require_POST
def quote_price_preview(request):
    """htmx: the totals panel (and each row's price, out of band) for the form as typed so far."""
    editor = QuoteEditor.bind(request.POST)
    return render(request, "quotes/_totals.html", {"preview": _preview(editor), "editor": editor, "oob": True})


def _preview(editor: QuoteEditor) -> dict:
    """Each complete row's price, and the totals once every row is complete."""
    rows, complete = {}, True
    for row in editor.filled_rows:
        if not row.is_valid():
            complete = False
            continue
        try:
            rows[row.index] = {"line": quote_price(lines=[row.line_input()]).lines[0]}
        except QuoteInvalid as invalid:
            complete = False
            rows[row.index] = {"error": next(iter(invalid.errors.values()))[0]}
    editor.header.is_valid()  # the customer may still be missing; a valid discount is in cleaned_data anyway
    discount = editor.header.cleaned_data.get("discount") or 0
    preview = {"rows": rows, "priced": None, "errors": list(editor.header.errors.get("discount", []))}
    if complete and rows:
        try:
            preview["priced"] = quote_price(lines=editor.line_inputs(), discount=discount)
        except QuoteInvalid as invalid:
            preview["errors"] = [message for messages_ in invalid.errors.values() for message in messages_]
    return preview


@role_required(*QUOTE_ROLES)
@require_GET
def quote_line_row(request):
    """htmx: one more empty line row."""
    try:
        index = int(request.GET.get("index", ""))
    except ValueError:
        return HttpResponse(_("index must be a number"), status=400)
    if not 0 <= index < 1000:
        return HttpResponse(_("index must be between 0 and 999"), status=400)
    return render(request, "quotes/_line_row.html", {"row": QuoteLineForm(index=index), "add_button": True})


@role_required(*QUOTE_ROLES)
@require_GET
def customer_options(request):
    """htmx: <option>s of the customer picker for what has been typed."""
    return render(request, "quotes/_customer_options.html", {"customers": customer_search(text=request.GET.get("customer", "")[:100])})


@role_required(*QUOTE_ROLES)
@require_GET
def quote_detail(request, number):
    quote = _quote_or_404(number)
    events = list(quote.events.all())
    return render(
        request,
        "quotes/detail.html",
        {
            "quote": quote,
            "events": events,
            "last_event": events[-1] if events else None,
            "successor": Quote.objects.filter(supersedes=quote).first(),
            "order": quote.orders.first(),
            "email": quote_email_state(quote),
            "can_approve": has_role(request.user, MANAGER) and not wrote_quote(user=request.user, quote=quote),
            "approver_wrote_it": has_role(request.user, MANAGER) and wrote_quote(user=request.user, quote=quote),
        },
    )


@xframe_options_sameorigin  # shown in the detail page's preview frame
@role_required(*QUOTE_ROLES)
@require_GET
def quote_pdf(request, number):
    rendered = quote_render_by_number(number=number)
    if rendered is None:
        raise Http404
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{rendered.filename}"'
    return response


def _act(request, number, action, success_message):
    quote = _quote_or_404(number)
    try:
        result = action(quote=quote, actor=Actor.staff(request.user))
    except QuoteActionNotAllowed as refused:
        messages.error(request, refused.message)
        return _back(request, quote)
    target = result if isinstance(result, Quote) else quote
    messages.success(request, success_message % {"number": target.number})
    return _back(request, target)


def _back(request, quote: Quote):
    # The approval queue decides in place and stays there.
    if request.POST.get("next") == "approvals":
        return redirect("quotes:approvals")
    return redirect("quotes:detail", number=quote.number)


@role_required(*QUOTE_ROLES)
@require_POST
def quote_submit_view(request, number):
    return _act(request, number, quote_submit_for_approval, _("Quote %(number)s is waiting for a manager's approval."))


@role_required(*QUOTE_ROLES)
@require_POST
def quote_send_view(request, number):
    return _act(request, number, quote_send, _("Quote %(number)s was sent."))


@role_required(*QUOTE_ROLES)
@require_POST
def quote_email_again_view(request, number):
    return _act(request, number, quote_email_again, _("The e-mail of quote %(number)s is being sent again."))


@role_required(*QUOTE_ROLES)
@require_POST
def quote_revise_view(request, number):
    return _act(request, number, quote_revise, _("Revision %(number)s created as a draft."))


@role_required(*QUOTE_ROLES)
@require_POST
def quote_decline_view(request, number):
    comment = request.POST.get("comment", "")[:2000]
    return _act(
        request, number, lambda **kw: quote_decline(comment=comment, **kw), _("Quote %(number)s was marked declined.")
    )


@role_required(MANAGER)
@require_POST
def quote_approve_view(request, number):
    comment = request.POST.get("comment", "")[:2000]
    return _act(request, number, lambda **kw: quote_approve(comment=comment, **kw), _("Quote %(number)s approved."))


@role_required(MANAGER)
@require_POST
def quote_return_view(request, number):
    comment = request.POST.get("comment", "")[:2000]
    return _act(
        request, number, lambda **kw: quote_return(comment=comment, **kw), _("Quote %(number)s returned to its author.")
    )


@role_required(MANAGER)
@require_GET
def approval_queue(request):
    quotes = list(quotes_waiting_for_approval())
    authors = quote_author_ids(quotes=quotes)
    for quote in quotes:
        quote.written_by_viewer = request.user.pk in authors[quote.pk]  # four eyes: another manager decides
    return render(request, "quotes/approvals.html", {"quotes": quotes})
