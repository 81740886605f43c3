"""The staff page action that turns a quote into an order (it creates an order, so it lives in orders)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from orderdesk.roles import MANAGER, SALES, role_required
from orders.services.from_quote import order_from_quote
from orders.services.intake import DuplicatePoNumber, OrderInvalid
from orders.services.transitions import Actor
from quotes.models import Quote
from quotes.services.errors import QuoteNotAcceptable
from quotes.ui_messages import accepted_message, duplicate_po_message


@role_required(SALES, MANAGER)
@require_POST
def quote_accept(request, number):
    """Sales staff record that the customer accepted (by phone, fax, e-mail)."""
    quote = Quote.objects.filter(number=number).first()
    if quote is None:
        raise Http404
    po_number = request.POST.get("po_number", "").strip()
    try:
        acceptance = order_from_quote(quote=quote, actor=Actor.staff(request.user), po_number=po_number or None)
    except QuoteNotAcceptable as refusal:
        messages.error(request, refusal.message)
    except OrderInvalid as invalid:
        messages.error(request, " ".join(error.message for error in invalid.errors))
    except DuplicatePoNumber as error:
        messages.error(request, duplicate_po_message(po_number=error.existing.po_number, order=error.existing.number))
    else:
        messages.success(request, accepted_message(order=acceptance.order.number, created=acceptance.created))
    return redirect("quotes:detail", number=quote.number)
