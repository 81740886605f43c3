"""`Authorization: Token <key>` for customers' purchasing systems."""

from dataclasses import dataclass

from django.db import connection
from rest_framework import authentication, exceptions, permissions

from licensing.models import ApiToken, Customer, hash_token


class CustomerPrincipal:
    """request.user for an API call: the customer the token belongs to."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, customer: Customer):
        self.customer = customer
        self.pk = customer.pk

    def __str__(self) -> str:
        return self.customer.code


class CustomerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Token <key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token contains characters a token never has.") from None
        # The same conditions as token_owner() below.
        token = (
            ApiToken.objects.select_related("customer")
            .filter(key_hash=hash_token(raw_key), revoked_at__isnull=True, customer__is_active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return CustomerPrincipal(token.customer), token

    def authenticate_header(self, request):
        return self.keyword


class IsCustomer(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CustomerPrincipal)


@dataclass(frozen=True)
class TokenOwner:
    token_id: int
    customer: Customer  # id and code loaded; any other field is read from the database when first used


# A token counts while it is not revoked and its customer is active.
_TOKEN_OWNER = (
    "SELECT t.id, c.id, c.code FROM licensing_apitoken t JOIN licensing_customer c ON c.id = t.customer_id"
    " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND c.is_active"
)


def token_owner(authorization: str) -> TokenOwner | None:
    """The token and customer of an `Authorization: Token <key>` header value, in one statement.

    For the order intake (orders.api.intake), which skips DRF: the same
    conditions as CustomerTokenAuthentication, without the ORM's cost. None for
    anything that is not a valid, active token; the caller then lets
    CustomerTokenAuthentication answer, with its 401 and its reasons.
    """
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != CustomerTokenAuthentication.keyword.lower() or not parts[1].isascii():
        return None
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_OWNER, [hash_token(parts[1])])
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, customer_id, code = row
    return TokenOwner(token_id=token_id, customer=Customer.from_db(connection.alias, ["id", "code"], [customer_id, code]))
