"""Problems (problem+json errors) of the order endpoints that more than one view raises."""

from django.utils.translation import gettext as _

from orderdesk.api.problems import Problem, validation_problem
from orders.models import Order
from orders.services.intake import OrderInvalid


def duplicate_po_number_problem(existing: Order) -> Problem:
    """409 duplicate-po-number naming the order that already has the PO number (API.md)."""
    return Problem(
        409,
        "duplicate-po-number",
        _("An order with this PO number already exists."),
        _("PO number %(po_number)s is already order %(number)s.") % {"po_number": existing.po_number, "number": existing.number},
        number=existing.number,
        status_of_existing=existing.status,
    )


def order_invalid_problem(invalid: OrderInvalid) -> Problem:
    """400 validation-error naming every field the order intake refused."""
    return validation_problem([error.as_dict() for error in invalid.errors])
