"""POST /api/v1/quotes/{number}/accept/: the customer accepts a sent quote and gets the order.

Lives in orders because it creates an order; the quote's GET lives in quotes.api.
"""

from collections.abc import Mapping

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderdesk.api.idempotency import idempotent
from orderdesk.api.problems import Problem, validation_problem
from orders.api.problems import duplicate_po_number_problem, order_invalid_problem
from orders.api.serializers import OrderSerializer
from orders.api.views import IDEMPOTENCY_KEY, PROBLEM
from orders.services.from_quote import order_from_quote
from orders.services.intake import DuplicatePoNumber, OrderInvalid
from orders.services.transitions import Actor
from quotes.api.serializers import QuoteAcceptSerializer
from quotes.api.views import customer_quote_or_404
from quotes.services.errors import QuoteNotAcceptable


class QuoteAcceptView(APIView):
    @extend_schema(
        summary="Accept a sent, unexpired quote: creates an order with the quote's prices",
        description=(
            "Answers 201 with the new order (as POST /orders/ does). A quote that is expired, declined, "
            "superseded by a revision or already accepted answers 409 `quote-not-acceptable` with `reason` "
            "(and `order` when it was already accepted)."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=QuoteAcceptSerializer,
        responses={201: OrderSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM, 429: PROBLEM},
    )
    @idempotent
    def post(self, request, number: str):
        quote = customer_quote_or_404(request, number)
        body = request.data
        if not isinstance(body, Mapping):
            raise validation_problem([{"field": None, "code": "invalid", "message": _("The body must be a JSON object.")}])
        try:
            acceptance = order_from_quote(
                quote=quote,
                actor=Actor.customer(request.user.customer),
                po_number=body.get("po_number"),  # None: the quote number
                notes=body.get("notes", ""),
            )
        except QuoteNotAcceptable as refusal:
            raise _not_acceptable(refusal) from None
        except OrderInvalid as invalid:
            raise order_invalid_problem(invalid) from None
        except DuplicatePoNumber as error:
            raise duplicate_po_number_problem(error.existing) from None
        if not acceptance.created:
            raise _not_acceptable(QuoteNotAcceptable(quote, "accepted", order=acceptance.order.number))
        body = OrderSerializer(acceptance.order, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


def _not_acceptable(refusal: QuoteNotAcceptable) -> Problem:
    extra = {"reason": refusal.reason, "quote": refusal.quote.number}
    if refusal.order:
        extra["order"] = refusal.order
    if refusal.successor:
        extra["superseded_by"] = refusal.successor
    return Problem(409, "quote-not-acceptable", _("This quote cannot be accepted."), refusal.message, **extra)
