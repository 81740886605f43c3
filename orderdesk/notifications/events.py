"""The event types customers may subscribe to; each app adds the ones it emits here (one list, one place)."""

from django.utils.translation import gettext_lazy as _

EVENT_TYPES = {
    "order.received": _("An order was received (committed in status received)."),
    "order.needs_review": _("An order waits for a person's review; the reasons in words."),
    "order.completed": _("An order completed: seats provisioned, the quote PDF's URL."),
    "order.rejected": _("An order was rejected, with the reason given."),
    "order.cancelled": _("An order was cancelled."),
    "quote.sent": _("A quote was sent to the customer."),
    "quote.expiring": _("A sent quote expires in 3 days."),
    "subscription.renewal_due": _("A subscription's term ends in 90, 30 or 7 days (each once): the seats, the last day, the grace."),
}
