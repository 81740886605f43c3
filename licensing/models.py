import hashlib
import secrets
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
import holidays
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    class Honorific(models.TextChoices):
        # Decides 御中 (a company or department) vs 様 (a person) on documents.
        COMPANY = "company", _("Company (御中)")
        PERSON = "person", _("Person (様)")

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_-]+$", _("Use capital letters, digits, - and _."))],
    )
    name = models.CharField(_("name"), max_length=200)
    honorific = models.CharField(_("honorific"), max_length=16, choices=Honorific.choices, default=Honorific.COMPANY)
    address = models.TextField(_("address"), blank=True)
    billing_email = models.EmailField(_("billing e-mail"), blank=True)
    credit_limit = models.PositiveBigIntegerField(_("credit limit (yen)"), default=0)
    manual_approval = models.BooleanField(
        _("manual approval"), default=False, help_text=_("Every order of this customer waits for a person.")
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Tokyo")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def get_absolute_url(self) -> str:
        """The staff page of the customer (the admin's "view on site" leads there)."""
        return reverse("licensing:customer", args=[self.code])


def in_page_language(*, japanese: str, english: str) -> str:
    """The English text on English pages (when there is one), the Japanese everywhere else.

    Documents (御見積書) and the API always use the Japanese name; this is for pages.
    """
    language = translation.get_language() or ""
    return english if english and language.startswith("en") else japanese


# Units are stored as the documents print them; English pages say them in English.
UNITS_IN_ENGLISH = {"ユーザー": "users", "式": "set", "ライセンス": "licenses", "台": "devices", "個": "pcs", "本": "pcs"}


def unit_in_page_language(unit: str) -> str:
    return in_page_language(japanese=unit, english=UNITS_IN_ENGLISH.get(unit, ""))


class ProductLineNames:
    """For a document line (an order's, a quote's) that froze the product's Japanese name and unit."""

    @property
    def display_name(self) -> str:
        """The product's name in the page's language; the frozen Japanese name is what documents print."""
        if (translation.get_language() or "ja") == "ja":
            return self.product_name  # without reading the product
        return in_page_language(japanese=self.product_name, english=self.product.name_en)

    @property
    def display_unit(self) -> str:
        return unit_in_page_language(self.unit)


class Product(models.Model):
    class Kind(models.TextChoices):
        BASE = "base", _("Base license")
        ADDON = "addon", _("Add-on")

    class TaxRate(models.IntegerChoices):
        STANDARD = 10, _("10% (standard)")
        REDUCED = 8, _("8% (reduced)")

    sku = models.CharField(
        _("SKU"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", _("Use capital letters, digits and -."))],
    )
    name_ja = models.CharField(_("name (Japanese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # Which seats an add-on runs on is a matter of families, not of one product:
    # a user of the remote-desktop add-on needs secure remote access, whether
    # that seat was bought for one year (SRA-1Y) or three (SRA-3Y).
    family = models.CharField(
        _("family"),
        max_length=32,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", _("Use capital letters, digits and -."))],
        help_text=_("The product line, the same for every term: SRA for SRA-1Y and SRA-3Y."),
    )
    base_family = models.CharField(
        _("base family"),
        max_length=32,
        blank=True,
        help_text=_(
            "Add-ons only: the family of base licenses this add-on runs on. The add-on family's seats, "
            "every term together, may never exceed that family's base seats."
        ),
    )
    term_months = models.PositiveSmallIntegerField(_("term (months)"), default=12, validators=[MinValueValidator(1)])
    unit = models.CharField(_("unit"), max_length=16, default="ユーザー")
    tax_rate = models.PositiveSmallIntegerField(_("tax rate"), choices=TaxRate.choices, default=TaxRate.STANDARD)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="addon") & ~models.Q(base_family=""))
                | (models.Q(kind="base") & models.Q(base_family="")),
                name="addon_has_base_family_base_has_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.display_name}"

    @property
    def display_name(self) -> str:
        """The name in the page's language: name_en on English pages, name_ja on Japanese ones."""
        return in_page_language(japanese=self.name_ja, english=self.name_en)

    def clean(self):
        """A family holds products of one kind; an add-on runs on an existing family of base licenses."""
        errors = {}
        if self.kind == self.Kind.ADDON and not self.base_family:
            errors["base_family"] = _("An add-on needs the family of base licenses it runs on.")
        if self.kind == self.Kind.BASE and self.base_family:
            errors["base_family"] = _("Only an add-on runs on a base family; leave this empty for a base license.")
        others = Product.objects.exclude(pk=self.pk)
        if self.family and others.filter(family=self.family).exclude(kind=self.kind).exists():
            errors["family"] = _("Family %(family)s already holds products of the other kind.") % {"family": self.family}
        if self.kind == self.Kind.ADDON and self.base_family and "base_family" not in errors:
            if not others.filter(family=self.base_family, kind=self.Kind.BASE).exists():
                errors["base_family"] = _("No base license has the family %(family)s.") % {"family": self.base_family}
            elif others.filter(family=self.family, kind=self.Kind.ADDON).exclude(base_family=self.base_family).exists():
                errors["base_family"] = _("The other add-ons of family %(family)s run on another base family.") % {
                    "family": self.family
                }
        if errors:
            raise ValidationError(errors)


class PriceTier(models.Model):
    """From `min_quantity` seats on, every seat costs `unit_price` yen."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="price_tiers")
    min_quantity = models.PositiveIntegerField(_("from quantity"), validators=[MinValueValidator(1)])
    unit_price = models.PositiveBigIntegerField(_("unit price (yen)"))

    class Meta:
        ordering = ["product", "min_quantity"]
        verbose_name = _("price tier")
        verbose_name_plural = _("price tiers")
        constraints = [
            models.UniqueConstraint(fields=["product", "min_quantity"], name="unique_tier_per_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} ≥{self.min_quantity}: ¥{self.unit_price:,}"


def hash_token(raw_key: str) -> str:
    # Tokens are 256-bit random values, so a fast hash is enough: there is
    # nothing to brute-force, and lookups stay one indexed query.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiTokenManager(models.Manager):
    def issue(self, *, customer: Customer, name: str = "") -> tuple["ApiToken", str]:
        """Create a token and return it with its raw key, which is never stored."""
        raw_key = secrets.token_urlsafe(32)
        token = self.create(customer=customer, name=name, prefix=raw_key[:8], key_hash=hash_token(raw_key))
        return token, raw_key


class ApiToken(models.Model):
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("Which system uses it."))
    prefix = models.CharField(_("prefix"), max_length=8, editable=False, help_text=_("First characters, to recognise it."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ApiTokenManager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.customer.code} {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


JAPAN = ZoneInfo("Asia/Tokyo")


def validate_time_zone(name: str) -> None:
    if name and not _is_time_zone(name):
        raise ValidationError(_("%(name)s is not an IANA time zone name such as Asia/Tokyo."), params={"name": name})


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Subscription(models.Model):
    """A customer's license for one product. Its seats are the sum of its ledger, never a stored count."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="subscriptions")
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="subscriptions")
    term_start = models.DateField(_("term start"))
    term_end = models.DateField(_("term end"), help_text=_("Last day the license may be used (Japan time)."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["customer", "product"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["customer", "product"], name="unique_subscription_per_product"),
            models.CheckConstraint(condition=models.Q(term_end__gte=models.F("term_start")), name="term_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.customer.code} {self.product.sku}"


class LedgerEntryImmutable(Exception):
    """Seat ledger entries are append-only: correct a mistake with a new, opposite entry."""


class SeatLedgerQuerySet(models.QuerySet):
    # Bulk writes bypass save(); refuse them too so the ledger stays append-only.
    def update(self, **kwargs):
        raise LedgerEntryImmutable("seat ledger entries cannot be updated; add an adjusting entry instead")

    def delete(self):
        raise LedgerEntryImmutable("seat ledger entries cannot be deleted; add an adjusting entry instead")


class SeatLedgerEntry(models.Model):
    """One change of a subscription's seats: + for an order line, − for a correction. Never edited."""

    subscription = models.ForeignKey(
        Subscription, verbose_name=_("subscription"), on_delete=models.PROTECT, related_name="ledger_entries"
    )
    quantity = models.IntegerField(_("seats"), help_text=_("Positive adds seats, negative removes them."))
    # What caused the entry, e.g. "order-line:1234". Unique, so the same cause can never count twice.
    reference = models.CharField(_("reference"), max_length=100, unique=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    objects = SeatLedgerQuerySet.as_manager()

    class Meta:
        ordering = ["subscription", "created_at", "id"]
        verbose_name = _("seat ledger entry")
        verbose_name_plural = _("seat ledger entries")
        constraints = [
            models.CheckConstraint(condition=~models.Q(quantity=0), name="ledger_quantity_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity:+d}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerEntryImmutable(f"seat ledger entry {self.reference} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerEntryImmutable(f"seat ledger entry {self.reference} cannot be deleted")


# Readable license keys: no 0/O or 1/I, which people confuse when they type a key in.
LICENSE_KEY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LICENSE_KEY_GROUPS = 5
LICENSE_KEY_GROUP_LENGTH = 4


def generate_license_key() -> str:
    """Like "SRA7-7KQ2-M9XD-4TPW-H3CV": 20 characters of a 32-letter alphabet, 100 random bits."""
    groups = (
        "".join(secrets.choice(LICENSE_KEY_ALPHABET) for _position in range(LICENSE_KEY_GROUP_LENGTH))
        for _group in range(LICENSE_KEY_GROUPS)
    )
    return "-".join(groups)


class LicenseKey(models.Model):
    subscription = models.ForeignKey(
        Subscription, verbose_name=_("subscription"), on_delete=models.PROTECT, related_name="license_keys"
    )
    key = models.CharField(_("key"), max_length=32, unique=True)
    # What the key was issued for, e.g. "order-line:1234"; issuing twice for it returns the same key.
    reference = models.CharField(_("reference"), max_length=100, unique=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["subscription", "issued_at", "id"]
        verbose_name = _("license key")
        verbose_name_plural = _("license keys")

    def __str__(self) -> str:
        return self.key

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IsoWeekday(models.IntegerChoices):
    MONDAY = 1, _("Monday")
    TUESDAY = 2, _("Tuesday")
    WEDNESDAY = 3, _("Wednesday")
    THURSDAY = 4, _("Thursday")
    FRIDAY = 5, _("Friday")
    SATURDAY = 6, _("Saturday")
    SUNDAY = 7, _("Sunday")


def default_working_days() -> list[int]:
    return [IsoWeekday.MONDAY, IsoWeekday.TUESDAY, IsoWeekday.WEDNESDAY, IsoWeekday.THURSDAY, IsoWeekday.FRIDAY]


def validate_working_days(value) -> None:
    valid = set(IsoWeekday.values)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(day, int) and not isinstance(day, bool) and day in valid for day in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationError(_("Working days must be a non-empty list of distinct ISO weekdays, 1 (Monday) to 7 (Sunday)."))


def validate_holiday_country(code: str) -> None:
    if code and code not in holidays.list_supported_countries():
        raise ValidationError(
            _("%(code)s is not a country the holidays package knows; use a code such as JP."), params={"code": code}
        )


class WorkHoursPolicy(models.Model):
    """労務管理: license use may start only inside the customer's working hours.

    Days and times are those of `time_zone` (blank: the customer's). A shift
    starts at start_time (inclusive) on a working day and ends at end_time
    (exclusive); an end earlier than the start means the shift crosses
    midnight (22:00–06:00) and ends on the next day. A shift belongs to the
    day it starts: a day that is not a working day — not in `working_days`,
    a public holiday of `public_holidays`, or one of the customer's closed
    periods (年末年始, お盆) — starts no shift. See licensing.calendars.
    """

    class Mode(models.TextChoices):
        WARN = "warn", _("Warn (use is allowed, the client shows a warning)")
        BLOCK = "block", _("Block (use is refused)")

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="work_hours_policy"
    )
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.WARN)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("IANA name such as Asia/Tokyo; blank means the customer's time zone."),
    )
    working_days = models.JSONField(_("working days"), default=default_working_days, validators=[validate_working_days])
    start_time = models.TimeField(_("start"), default=time(9, 0))
    end_time = models.TimeField(
        _("end"),
        default=time(18, 0),
        help_text=_("Exclusive: at this minute use is outside hours. Earlier than the start: the shift ends the next day."),
    )
    public_holidays = models.CharField(
        _("public holidays"),
        max_length=8,
        blank=True,
        default="JP",
        validators=[validate_holiday_country],
        help_text=_("Country whose public holidays are days off (JP: 日本の祝日); blank: none."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("work-hours policy")
        verbose_name_plural = _("work-hours policies")
        constraints = [
            models.CheckConstraint(condition=~models.Q(end_time=models.F("start_time")), name="work_hours_end_differs_from_start"),
        ]

    def __str__(self) -> str:
        return f"{self.customer.code} {self.start_time:%H:%M}–{self.end_time:%H:%M} ({self.mode})"

    def clean(self):
        if self.start_time is not None and self.start_time == self.end_time:
            raise ValidationError({"end_time": _("The end must differ from the start (an earlier end crosses midnight).")})

    @property
    def crosses_midnight(self) -> bool:
        return self.end_time < self.start_time

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_japan(self.time_zone or self.customer.time_zone)


def zone_or_japan(name: str) -> ZoneInfo:
    # Customer.time_zone is free text; a typo there must not break validation for the customer.
    return ZoneInfo(name) if _is_time_zone(name) else JAPAN


class ClosedPeriod(models.Model):
    """Days the customer's company is closed (年末年始, お盆): no shift starts on them."""

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="closed_periods")
    name = models.CharField(_("name"), max_length=100, help_text=_("For example 年末年始 or お盆."))
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"), help_text=_("Inclusive."))
    every_year = models.BooleanField(
        _("every year"), default=True, help_text=_("Repeat on the same dates every year (the year of the dates is ignored).")
    )

    class Meta:
        ordering = ["customer", "first_day"]
        verbose_name = _("closed period")
        verbose_name_plural = _("closed periods (年末年始, お盆)")
        constraints = [
            models.CheckConstraint(condition=models.Q(last_day__gte=models.F("first_day")), name="closed_period_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.first_day:%Y-%m-%d}–{self.last_day:%Y-%m-%d}"

    def clean(self):
        if self.first_day and self.last_day:
            if self.last_day < self.first_day:
                raise ValidationError({"last_day": _("The last day cannot be before the first day.")})
            if self.every_year and (self.last_day - self.first_day).days >= 365:
                raise ValidationError({"last_day": _("A period that repeats every year must be shorter than a year.")})


class OutsideHoursValidation(models.Model):
    """The record the unions asked for: one row per validation outside working hours."""

    # A log, written on every validation outside hours: no foreign-key check per row. Checking
    # would lock the customer's row (FOR KEY SHARE) in every insert, and devices validate in
    # bursts; customers and keys are never deleted (PROTECT elsewhere), so the ids stay valid.
    # No index of its own for the customer: outside_hours_customer_at starts with it, and every
    # index is one more insert per validation. The key's index serves the admin's search by key.
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
        db_index=False,
    )
    license_key = models.ForeignKey(
        LicenseKey, verbose_name=_("license key"), on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    at = models.DateTimeField(_("when"), help_text=_("The moment judged (the server's clock unless the device's was within the tolerance)."))
    time_zone = models.CharField(_("time zone"), max_length=64, help_text=_("The zone the working hours were judged in."))
    mode = models.CharField(_("mode"), max_length=8, choices=WorkHoursPolicy.Mode.choices)
    allowed = models.BooleanField(_("allowed"), help_text=_("Warn mode allows the use; block mode refuses it."))

    class Meta:
        ordering = ["customer", "at", "id"]
        verbose_name = _("outside-hours validation")
        verbose_name_plural = _("outside-hours validations")
        indexes = [models.Index(fields=["customer", "at"], name="outside_hours_customer_at"), models.Index(fields=["at"], name="outside_hours_at")]

    def __str__(self) -> str:
        return f"{self.license_key_id} {self.at:%Y-%m-%d %H:%M} {self.mode}"


class ValidationDayCount(models.Model):
    """Validations of a key answered VALID inside working hours, counted per day: the volume stays bounded."""

    # No foreign-key check per count, as for OutsideHoursValidation; no index of its own either:
    # one_count_per_key_and_day starts with the key.
    license_key = models.ForeignKey(
        LicenseKey, verbose_name=_("license key"), on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
        db_index=False,
    )
    day = models.DateField(_("day"), help_text=_("In the time zone of the customer's working hours."))
    allowed = models.PositiveIntegerField(_("allowed validations"), default=0)

    class Meta:
        ordering = ["license_key", "day"]
        verbose_name = _("validations per key and day")
        verbose_name_plural = _("validations per key and day")
        constraints = [models.UniqueConstraint(fields=["license_key", "day"], name="one_count_per_key_and_day")]
        indexes = [models.Index(fields=["day"], name="validation_count_day")]

    def __str__(self) -> str:
        return f"{self.license_key_id} {self.day}: {self.allowed}"


class SubscriptionRenewal(models.Model):
    """A subscription's term extended by an accepted renewal: once per `reference` (what renewed it)."""

    subscription = models.ForeignKey(
        Subscription, verbose_name=_("subscription"), on_delete=models.PROTECT, related_name="renewals"
    )
    # What renewed it, e.g. "order-line:1234": the same cause never extends the term twice.
    reference = models.CharField(_("reference"), max_length=100, unique=True)
    previous_term_end = models.DateField(_("previous term end"))
    term_end = models.DateField(_("new term end"))
    seats = models.PositiveIntegerField(_("seats renewed"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["subscription", "created_at", "id"]
        verbose_name = _("subscription renewal")
        verbose_name_plural = _("subscription renewals")

    def __str__(self) -> str:
        return f"{self.reference}: {self.previous_term_end} → {self.term_end}"


class RenewalNotice(models.Model):
    """One notice to the billing contact that a term is ending: per subscription, term and days before, once."""

    subscription = models.ForeignKey(
        Subscription, verbose_name=_("subscription"), on_delete=models.CASCADE, related_name="renewal_notices"
    )
    term_end = models.DateField(_("term end"))
    days_before = models.PositiveSmallIntegerField(_("days before the end"))
    sent_to = models.EmailField(_("sent to"), blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        ordering = ["subscription", "term_end", "-days_before"]
        verbose_name = _("renewal notice")
        verbose_name_plural = _("renewal notices")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "term_end", "days_before"], name="one_renewal_notice_each"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.term_end} −{self.days_before}d"
