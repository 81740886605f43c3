"""Document numbers (O-2026-000123, Q-2026-000045) from the database.

Allocation runs in its own short transaction, so the sequence row is locked
only for the increment, not for the whole order transaction: under a surge
many orders are created at once. The price is that a rolled-back order leaves
a gap in the numbers, which is fine for orders and quotes (they are not
invoices). The numbered tables carry a unique constraint as the final guard.
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from orderdesk.models import NumberSequence


def next_number(prefix: str, *, year: int | None = None, width: int = 6) -> str:
    year = year or timezone.localdate().year
    with transaction.atomic():
        updated = NumberSequence.objects.filter(prefix=prefix, year=year).update(last_value=F("last_value") + 1)
        if not updated:
            _create_sequence(prefix, year)
        value = NumberSequence.objects.values_list("last_value", flat=True).get(prefix=prefix, year=year)
    return f"{prefix}-{year}-{value:0{width}d}"


def _create_sequence(prefix: str, year: int) -> None:
    """First number of a series: create the row at 1, or bump it if another process just did."""
    try:
        with transaction.atomic():
            NumberSequence.objects.create(prefix=prefix, year=year, last_value=1)
    except IntegrityError:
        NumberSequence.objects.filter(prefix=prefix, year=year).update(last_value=F("last_value") + 1)
