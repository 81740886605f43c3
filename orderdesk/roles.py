"""Staff roles are Django groups. Every staff view checks them on the server.

sales       builds and sends quotes
order_desk  clears the backlog: every review reason
helper      joins the backlog in a surge, simple reasons only
manager     everything order_desk may do, approves discounts, watches the dashboard

/admin/ (catalog, customers, API tokens, subscriptions, users) is not a role's:
only superusers open it (may_open_admin).
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

SALES = "sales"
ORDER_DESK = "order_desk"
HELPER = "helper"
MANAGER = "manager"
ALL_ROLES = (SALES, ORDER_DESK, HELPER, MANAGER)
BACKLOG_ROLES = (ORDER_DESK, HELPER, MANAGER)
# The dashboard and the order feed: managers, and order-desk admins (who only look).
CONTROL_ROOM_ROLES = (ORDER_DESK, MANAGER)
# Orders in from spreadsheets and out again (/imports/, the backlog's export).
IMPORT_ROLES = (ORDER_DESK, MANAGER)


def user_roles(user) -> frozenset[str]:
    """The user's roles, cached on the user object for the request."""
    if user is None or not user.is_authenticated or not getattr(user, "is_active", False):
        return frozenset()
    if user.is_superuser:
        return frozenset(ALL_ROLES)
    if not hasattr(user, "_orderdesk_roles"):
        user._orderdesk_roles = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return user._orderdesk_roles


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def may_open_admin(user) -> bool:
    """Only superusers open /admin/: it edits the catalog, customers, tokens and users outright.

    Staff status alone does not open it, and neither does any role: even a
    manager works on the staff pages, where every action checks the role.
    """
    return bool(
        user is not None and user.is_authenticated and user.is_active and user.is_staff and user.is_superuser
    )


def role_required(*roles: str):
    """View decorator: anonymous users go to the sign-in page, signed-in users without the role get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def roles_context(request) -> dict:
    """Template context processor: `roles` — the signed-in user's roles — and whether they may open /admin/."""
    # API views (DRF) may render templates with request.user None or a customer principal.
    user = getattr(request, "user", None)
    return {"roles": user_roles(user), "may_open_admin": may_open_admin(user)}
