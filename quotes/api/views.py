from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from quotes.api.serializers import QuoteSerializer
from quotes.selectors import quote_for_customer


def customer_quote_or_404(request, number: str):
    """The token's customer's quote as sent; anything else (a draft, another customer's) is 404."""
    quote = quote_for_customer(customer=request.user.customer, number=number)
    if quote is None:
        raise NotFound(_("You have no quote %(number)s.") % {"number": number})
    return quote


class QuoteDetailView(APIView):
    @extend_schema(
        summary="A quote sent to you",
        responses={200: QuoteSerializer, 404: OpenApiResponse(description="application/problem+json")},
    )
    def get(self, request, number: str):
        quote = customer_quote_or_404(request, number)
        return Response(QuoteSerializer(quote, context={"request": request}).data)
