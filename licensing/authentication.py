"""`Authorization: Token <key>` for customers' purchasing systems."""

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
        # The same conditions as the order intake's statement (orders.api.intake_statements).
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
