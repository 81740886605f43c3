import hashlib
import secrets

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
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
    base_product = models.ForeignKey(
        "self",
        verbose_name=_("base product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        limit_choices_to={"kind": "base"},
        related_name="addons",
        help_text=_("For an add-on: the base license whose seats it may not exceed."),
    )
    term_months = models.PositiveSmallIntegerField(_("term (months)"), default=12, validators=[MinValueValidator(1)])
    unit = models.CharField(_("unit"), max_length=16, default="ユーザー")
    tax_rate = models.PositiveSmallIntegerField(_("tax rate"), choices=TaxRate.choices, default=TaxRate.STANDARD)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name_ja}"


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
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_tokens")
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
