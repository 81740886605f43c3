"""What quote services raise; views turn these into form errors, messages or problem+json."""

from django.utils.translation import gettext_lazy as _


class QuoteInvalid(Exception):
    """Input a quote cannot be built from. `errors` maps a field ("lines[2].discount", "discount") to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in errors.items()))


class QuoteActionNotAllowed(Exception):
    """The quote's status (or its data) does not allow this action now."""

    def __init__(self, quote, message):
        self.quote = quote
        self.message = message
        super().__init__(f"{quote.number}: {message}")


class QuoteNotAcceptable(Exception):
    """Accepting is refused. `reason` is a code clients can match: expired, declined, superseded, accepted, not_sent."""

    MESSAGES = {
        "expired": _("Quote %(number)s expired at the end of %(valid_until)s (Japan time)."),
        "declined": _("Quote %(number)s was declined."),
        "superseded": _("Quote %(number)s was replaced by revision %(successor)s; accept that one instead."),
        "accepted": _("Quote %(number)s was already accepted as order %(order)s."),
        "not_sent": _("Quote %(number)s has not been sent yet."),
    }

    def __init__(self, quote, reason: str, *, successor: str = "", order: str = ""):
        self.quote = quote
        self.reason = reason
        self.successor = successor
        self.order = order
        super().__init__(self.message)

    @property
    def message(self) -> str:
        values = {
            "number": self.quote.number,
            "valid_until": self.quote.valid_until.isoformat(),
            "successor": self.successor,
            "order": self.order,
        }
        return str(self.MESSAGES[self.reason] % values)
