"""Staff-facing messages that the orders app shows about quotes, kept here so quotes/locale translates them."""

from django.utils.translation import gettext as _


def accepted_message(*, order: str, created: bool) -> str:
    if created:
        return _("Quote accepted: order %(order)s was created and is on its way through the pipeline.") % {"order": order}
    return _("This quote was already accepted as order %(order)s.") % {"order": order}


def duplicate_po_message(*, po_number: str, order: str) -> str:
    return _("PO number %(po)s is already used by order %(order)s; enter another.") % {"po": po_number, "order": order}
