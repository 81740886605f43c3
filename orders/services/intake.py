"""Order intake: the one way an order is born, whatever brings it (the API, an accepted quote, a spreadsheet).

    order_validate(data)   → NewOrder, or OrderInvalid with field errors
                             (the shape, the catalog, the prices and the totals)
    order_submit(...)      → the order, committed in `received`, handed to the pipeline on commit
                             (order_validate, then orders.services.order_writer)
    orders_submit(...)     → several orders in one transaction, each as order_submit stores it
                             (a spreadsheet import's batch): one catalog read, one doorbell

There is no other way to create an order: the API, quote acceptance
(orders.services.from_quote) and imports all call order_submit.

The API's POST /orders/ passes the parsed JSON body as `data`; an accepted
quote passes the quote's lines with their agreed prices; an import passes each
spreadsheet order in the same shape as the API's body. So one set of rules
decides what an order may be, and its field errors ("lines[1].quantity")
read the same wherever they are shown.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from licensing.models import JAPAN, Customer
from licensing.pricing import PricingError, coterm, prorated_unit_price, tier_unit_price
from licensing.selectors import PricedProduct, priced_products, priced_products_by_customer
from orderdesk.audit import Actor
from orderdesk.text import REFUSED_IN_LINE, REFUSED_IN_TEXT
from orders.models import Order
from orders.services.order_writer import ReplayableResponse, order_numbers, order_writer
from orders.services.queueing import enqueue_new_order
from orders.totals import order_totals

# The contract's limits (API.md "Submitting an order"); the OpenAPI schema states the same numbers.
PO_NUMBER_MAX_LENGTH = 64
NOTES_MAX_LENGTH = 2000
SKU_MAX_LENGTH = 32
MAX_LINES = 100
MAX_QUANTITY = 100_000

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with a field, as problem+json's `errors` lists it: "lines[1].quantity", "min_value", words."""

    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class OrderInvalid(Exception):
    """What was sent cannot be an order; `errors` says every field that is wrong."""

    def __init__(self, errors: Sequence[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{error.field or 'body'}: {error.message}" for error in self.errors))


class DuplicatePoNumber(Exception):
    def __init__(self, existing: Order):
        self.existing = existing
        super().__init__(f"PO number {existing.po_number!r} was already used by order {existing.number}")


@dataclass(frozen=True)
class AgreedPrice:
    """A line's price agreed elsewhere (an accepted quote): used instead of the catalog's tier."""

    unit_price: int
    amount: int  # after the line's own discount


@dataclass(frozen=True)
class NewOrderLine:
    position: int
    product_id: int
    sku: str
    product_name: str  # frozen from the catalog: later catalog changes do not rewrite an order
    unit: str
    quantity: int
    unit_price: int
    amount: int
    tax_rate: int
    coterm_months: int | None = None  # priced for these months of the term it joins (月割り)
    coterm_until: date | None = None  # the last day of that term


@dataclass(frozen=True)
class NewOrder:
    """A validated, priced order that is not stored yet."""

    po_number: str
    requested_start: date | None
    notes: str
    lines: tuple[NewOrderLine, ...]
    discount: int
    subtotal: int
    tax: int
    total: int


def order_validate(
    data,
    *,
    catalog: Mapping[str, PricedProduct] | None = None,
    agreed_prices: Mapping[str, AgreedPrice] | None = None,
    discount: int = 0,
    customer_id: int | None = None,
) -> NewOrder:
    """Check a submitted order and price it, or raise OrderInvalid naming every wrong field.

    `data` has the API body's shape: {"po_number", "lines": [{"sku", "quantity"}],
    "requested_start", "notes"}; fields it does not know are ignored. Quantities
    must be integers (not "50", not 50.0). `catalog` (SKU → product) is read
    for the order's SKUs when not given. Lines are priced at the catalog tier
    for their quantity unless `agreed_prices` has their SKU; `discount` (yen)
    comes off the whole order.

    With `customer_id`, a line for a product the customer already subscribes
    to, in a term still running when the seats start (`requested_start`, or
    today in Japan), co-terms: its seats end with that term and its unit price
    is the tier's pro rata for the months left (licensing.pricing.coterm). A
    line with an agreed price keeps that price.
    """
    errors: list[FieldError] = []
    if not isinstance(data, Mapping):
        raise OrderInvalid([FieldError(None, "invalid", _("The order must be a JSON object."))])
    po_number = _line_text(data, "po_number", PO_NUMBER_MAX_LENGTH, errors, required=True)
    notes = _multiline_text(data, "notes", NOTES_MAX_LENGTH, errors)
    requested_start = _requested_start(data.get("requested_start"), errors)
    lines = _lines(data.get("lines", _MISSING), errors)
    if errors:
        raise OrderInvalid(errors)
    if catalog is None:
        catalog = priced_products({sku for sku, _quantity in lines}, customer_id=customer_id)
    start = requested_start or timezone.localdate(timezone=JAPAN)
    priced = _priced_lines(lines, catalog, agreed_prices or {}, errors, start=start)
    if errors:
        raise OrderInvalid(errors)
    try:
        totals = order_totals(lines=priced, discount=discount)
    except PricingError as error:
        raise OrderInvalid([FieldError("discount", "invalid", str(error))]) from None
    return NewOrder(
        po_number=po_number,
        requested_start=requested_start,
        notes=notes,
        lines=tuple(priced),
        discount=totals.discount,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
    )


def order_submit(
    *,
    customer: Customer,
    data,
    actor: Actor,
    source: str,
    quote=None,
    agreed_prices: Mapping[str, AgreedPrice] | None = None,
    discount: int = 0,
    replayable: Callable[[Order], ReplayableResponse] | None = None,
) -> Order:
    """Validate and store a new order in `received`; the pipeline takes it once committed.

    Raises OrderInvalid (nothing stored) or DuplicatePoNumber (the customer
    already has an order with this PO number; that order is named). The order,
    its lines, its first timeline event and, with `replayable`, the API
    response to replay for the request's Idempotency-Key commit together.

    Called outside a transaction, the order commits before this returns. Inside
    one (a quote's acceptance), it commits with the caller's transaction.
    """
    new_order = order_validate(data, agreed_prices=agreed_prices, discount=discount, customer_id=customer.pk)
    return _store(customer=customer, new_order=new_order, source=source, quote=quote, actor=actor, replayable=replayable)


def _store(
    *, customer: Customer, new_order: NewOrder, source: str, actor: Actor, quote=None, replayable=None, ring: bool = True,
    number: str | None = None, savepoint: bool = True,
) -> Order:  # fmt: skip
    """Write a validated order (orders.services.order_writer), or DuplicatePoNumber naming the order that has its PO number.

    Without a savepoint (orders_submit's batch) a failed write spoils the transaction: the
    IntegrityError goes up as it is, for the batch's savepoint to take back (the lookup that
    names the order could not run in it)."""
    try:
        return order_writer().write(
            customer=customer, new_order=new_order, source=source, quote=quote, actor=actor, replayable=replayable, ring=ring,
            number=number, savepoint=savepoint,
        )  # fmt: skip
    except IntegrityError:
        if not savepoint:
            raise
        _raise_if_po_number_used(customer_id=customer.pk, po_number=new_order.po_number)
        raise


@dataclass(frozen=True)
class Submission:
    """One order of a batch for orders_submit: whose, and what (the API body's shape)."""

    customer: Customer
    data: Mapping


def orders_submit(
    *, submissions: Sequence[Submission], actor: Actor, source: str, numbers: Sequence[str] | None = None
) -> list[Order | OrderInvalid | DuplicatePoNumber]:
    """Validate and store several new orders in one transaction; for each, the order or why it was refused.

    Each order is validated and written exactly as order_submit does it (the
    same checks, the same writer, the same rows and timeline event), and one
    refused order leaves the others. What the batch saves is the per-order
    overhead around that: the catalog is read once for the batch and the
    customers' subscriptions once (their term ends co-term their lines), the orders are written without a savepoint each (one
    savepoint for the batch; only when a write fails, a PO number taken, is the
    batch taken back and written again one order per savepoint, so that just
    that order is refused), the batch commits once, and the pipeline's doorbell
    rings once for all of them after commit. Called inside a transaction, the
    orders commit with the caller's; such a caller draws the numbers beforehand,
    outside its transaction (`numbers`, from order_writer.order_numbers, one
    per submission), so that the number sequence's row, which every new order
    needs, is not held while the batch is written. A number whose submission is
    refused is left unused (a gap, as a rolled-back order leaves).
    """
    if numbers is not None and len(numbers) != len(submissions):
        raise ValueError("orders_submit needs one number per submission")
    if numbers is None and not transaction.get_connection().in_atomic_block:
        numbers = order_numbers(len(submissions))
    catalogs = _catalogs_by_customer(submissions)
    results: list[Order | OrderInvalid | DuplicatePoNumber | None] = [None] * len(submissions)
    valid: list[tuple[int, Submission, NewOrder]] = []
    for index, submission in enumerate(submissions):
        try:
            new_order = order_validate(submission.data, catalog=catalogs[submission.customer.pk], customer_id=submission.customer.pk)
        except OrderInvalid as refused:
            results[index] = refused
        else:
            valid.append((index, submission, new_order))

    def store(index: int, submission: Submission, new_order: NewOrder, savepoint: bool) -> Order:
        number = numbers[index] if numbers is not None else None
        return _store(customer=submission.customer, new_order=new_order, source=source, actor=actor, ring=False, number=number, savepoint=savepoint)

    with transaction.atomic():
        try:
            with transaction.atomic():
                for index, submission, new_order in valid:
                    results[index] = store(index, submission, new_order, savepoint=False)
        except IntegrityError:
            for index, submission, new_order in valid:
                try:
                    results[index] = store(index, submission, new_order, savepoint=True)
                except DuplicatePoNumber as refused:
                    results[index] = refused
        first = next((result for result in results if isinstance(result, Order)), None)
        if first is not None:
            transaction.on_commit(lambda: enqueue_new_order(first.pk))
    return results


def _catalogs_by_customer(submissions: Sequence[Submission]) -> dict[int, dict[str, PricedProduct]]:
    """Customer id → the catalog of its orders' SKUs with its own subscriptions' term ends (co-terming): two reads for the batch."""
    skus_by_customer: dict[int, set[str]] = {}
    for submission in submissions:
        skus = skus_by_customer.setdefault(submission.customer.pk, set())
        skus.update(line["sku"] for line in _line_mappings(submission.data))
    return priced_products_by_customer(skus_by_customer)


def _line_mappings(data) -> list[Mapping]:
    lines = data.get("lines") if isinstance(data, Mapping) else None
    return [line for line in lines if isinstance(line, Mapping) and isinstance(line.get("sku"), str)] if isinstance(lines, list) else []


def _raise_if_po_number_used(*, customer_id: int, po_number: str) -> None:
    """After an IntegrityError: DuplicatePoNumber naming the order that has the PO number, if one does.

    The unique constraint unique_po_number_per_customer decides, also between
    concurrent submissions; this only names the order that won. Not looked up
    before the insert: that would cost every order a query.
    """
    existing = Order.objects.filter(customer_id=customer_id, po_number=po_number).first()
    if existing is not None:
        raise DuplicatePoNumber(existing) from None


# --- The checks, one per field --------------------------------------------------------

_MISSING = object()


def _line_text(data: Mapping, name: str, max_length: int, errors: list, *, required: bool) -> str:
    value = data.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            errors.append(FieldError(name, "required", _("This field is required.")))
        return ""
    return _checked_text(value, name, max_length, errors, refused=REFUSED_IN_LINE, required=required)


def _multiline_text(data: Mapping, name: str, max_length: int, errors: list) -> str:
    value = data.get(name, _MISSING)
    if value is _MISSING or value is None:
        return ""
    return _checked_text(value, name, max_length, errors, refused=REFUSED_IN_TEXT, required=False)


def _checked_text(value, name: str, max_length: int, errors: list, *, refused: re.Pattern, required: bool) -> str:
    if not isinstance(value, str):
        errors.append(FieldError(name, "invalid", _("Must be a string.")))
        return ""
    # The length counts the white space around the text, as the schema's maxLength does; then it is trimmed.
    length, value = len(value), value.strip()
    if required and not value:
        errors.append(FieldError(name, "blank", _("This field may not be blank.")))
    elif length > max_length:
        errors.append(
            FieldError(name, "max_length", _("At most %(limit)d characters; this has %(length)d.") % {"limit": max_length, "length": length})
        )
    elif (character := refused.search(value)) is not None:
        errors.append(
            FieldError(
                name,
                "invalid_character",
                _("Contains the character %(code)s, which is not allowed here (control or text-direction characters).")
                % {"code": f"U+{ord(character.group()):04X}"},
            )
        )
    return value


def _requested_start(value, errors: list) -> date | None:
    if value is None:
        return None
    name = "requested_start"
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        errors.append(FieldError(name, "invalid", _("Must be a date written YYYY-MM-DD.")))
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "invalid", _("%(value)s is not a date.") % {"value": value}))
        return None
    today = timezone.localdate(timezone=JAPAN)
    latest = today + timedelta(days=settings.ORDER_REQUESTED_START_MAX_DAYS)
    if day < today:
        errors.append(FieldError(name, "past_date", _("May not be in the past (today is %(today)s in Japan).") % {"today": today.isoformat()}))
    elif day > latest:
        errors.append(FieldError(name, "too_far", _("May be at most %(days)d days ahead, until %(latest)s.") % {"days": settings.ORDER_REQUESTED_START_MAX_DAYS, "latest": latest.isoformat()}))
    return day


def _lines(value, errors: list) -> list[tuple[str, int]]:
    """(sku, quantity) of each line, in order."""
    if value is _MISSING or value is None:
        errors.append(FieldError("lines", "required", _("This field is required.")))
        return []
    if not isinstance(value, list):
        errors.append(FieldError("lines", "not_a_list", _("Must be a list of lines.")))
        return []
    if not value:
        errors.append(FieldError("lines", "empty", _("An order needs at least one line.")))
        return []
    if len(value) > MAX_LINES:
        errors.append(FieldError("lines", "max_length", _("At most %(limit)d lines; this has %(count)d.") % {"limit": MAX_LINES, "count": len(value)}))
        return []
    lines, first_line_of = [], {}
    for index, line in enumerate(value):
        path = f"lines[{index}]"
        if not isinstance(line, Mapping):
            errors.append(FieldError(path, "invalid", _("Each line must be an object with sku and quantity.")))
            continue
        field_errors: list[FieldError] = []
        sku = _line_text(line, "sku", SKU_MAX_LENGTH, field_errors, required=True)
        errors.extend(FieldError(f"{path}.{error.field}", error.code, error.message) for error in field_errors)
        quantity = _quantity(line.get("quantity", _MISSING), f"{path}.quantity", errors)
        if sku and sku in first_line_of:
            errors.append(
                FieldError(f"{path}.sku", "duplicate", _("SKU %(sku)s is already on line %(line)d; each SKU may appear once.") % {"sku": sku, "line": first_line_of[sku]})
            )
        elif sku:
            first_line_of[sku] = index
        lines.append((sku, quantity))
    return lines


def _quantity(value, path: str, errors: list) -> int:
    if value is _MISSING or value is None:
        errors.append(FieldError(path, "required", _("This field is required.")))
        return 0
    # A JSON integer: not true/false (bool is an int in Python), not "50", not 50.0 or 1e2.
    if type(value) is not int:
        errors.append(FieldError(path, "invalid", _("Must be a whole number written as a JSON integer, like 50.")))
        return 0
    if value < 1:
        errors.append(FieldError(path, "min_value", _("Must be at least 1.")))
    elif value > MAX_QUANTITY:
        errors.append(FieldError(path, "max_value", _("Must be at most %(limit)s.") % {"limit": f"{MAX_QUANTITY:,}"}))
    return value


def _priced_lines(
    lines: list[tuple[str, int]],
    catalog: Mapping[str, PricedProduct],
    agreed: Mapping[str, AgreedPrice],
    errors: list,
    *,
    start: date,
) -> list[NewOrderLine]:
    priced = []
    for index, (sku, quantity) in enumerate(lines):
        product = catalog.get(sku)
        if product is None:
            errors.append(
                FieldError(f"lines[{index}].sku", "unknown_sku", _("There is no product with SKU %(sku)s. GET /api/v1/products/ lists them.") % {"sku": sku})
            )
            continue
        price = agreed.get(sku)
        joins = None
        if price is None:
            joins = coterm(start=start, term_end=product.term_end, term_months=product.term_months)
            if joins is not None and not joins.is_prorated:
                joins = None
            try:
                unit_price = prorated_unit_price(tier_unit_price(product.tiers, quantity), joins)
            except PricingError:
                errors.append(
                    FieldError(f"lines[{index}].quantity", "no_price", _("%(sku)s has no price for %(quantity)d seats.") % {"sku": sku, "quantity": quantity})
                )
                continue
            price = AgreedPrice(unit_price=unit_price, amount=unit_price * quantity)
        priced.append(
            NewOrderLine(
                position=index + 1,
                product_id=product.id,
                sku=product.sku,
                product_name=product.name_ja,
                unit=product.unit,
                quantity=quantity,
                unit_price=price.unit_price,
                amount=price.amount,
                tax_rate=product.tax_rate,
                coterm_months=joins.months if joins else None,
                coterm_until=joins.term_end if joins else None,
            )
        )
    return priced
