"""Timeline notes written by the rules (repeat orders, credit releases), in the reader's language.

The event keeps its English reason as written (the audit trail); the page
reads the numbers from the event's data and says it in Japanese or English.
"""

from django import template
from django.utils.translation import gettext as _

register = template.Library()


def _yen(amount) -> str:
    return f"¥{int(amount or 0):,}"


@register.filter
def timeline_note(data: dict) -> str:
    note = data.get("note")
    if note == "repeat_of":
        return _("Same lines as %(number)s (PO %(po)s) under another PO number: ordered again, not held as a duplicate.") % {
            "number": data.get("number"),
            "po": data.get("po_number"),
        }
    if note == "repeated_by":
        return _("Ordered again as %(number)s (PO %(po)s) with the same lines; that order was not held as a duplicate.") % {
            "number": data.get("number"),
            "po": data.get("po_number"),
        }
    if note == "credit_release":
        return _(
            "Released automatically: it fits the credit limit after %(after)s was approved by %(by)s "
            "(exposure %(exposure)s of %(limit)s: approved %(committed)s, unpaid %(unpaid)s, this order %(this)s)."
        ) % {
            "after": data.get("after"),
            "by": data.get("by"),
            "exposure": _yen(data.get("exposure")),
            "limit": _yen(data.get("limit")),
            "committed": _yen(data.get("committed")),
            "unpaid": _yen(data.get("unpaid")),
            "this": _yen((data.get("exposure") or 0) - (data.get("committed") or 0) - (data.get("unpaid") or 0)),
        }
    return ""
