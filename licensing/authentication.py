"""`Authorization: Token <key>` for customers' purchasing systems."""

from django.db import connection
from rest_framework import authentication, exceptions, permissions

from licensing.models import ApiToken, Customer, hash_token
from orderdesk.db import fetch_one


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
        token = token_owner(hash_token(raw_key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return CustomerPrincipal(token.customer), token

    def authenticate_header(self, request):
        return self.keyword


def token_owner(key_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash, with its (active) customer; None for any other.

    Every API request asks this, so it is one prepared statement rather than
    an ORM query, whose compilation cost several times the lookup itself. The
    customer comes with its id and code; other fields load when first read.
    """
    row = fetch_one(_TOKEN_OWNER, [key_hash])
    if row is None:
        return None
    token_id, customer_id, customer_code = row
    token = ApiToken.from_db(connection.alias, ["id", "customer_id", "key_hash"], [token_id, customer_id, key_hash])
    token.customer = Customer.from_db(connection.alias, ["id", "code"], [customer_id, customer_code])
    return token


_TOKEN_OWNER = (
    "SELECT t.id, c.id, c.code FROM licensing_apitoken t JOIN licensing_customer c ON c.id = t.customer_id"
    " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND c.is_active"
)


class IsCustomer(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CustomerPrincipal)
