from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from licensing.calendars import holiday_country_choices
from licensing.models import (
    ApiToken,
    ClosedPeriod,
    Customer,
    IsoWeekday,
    LicenseKey,
    OutsideHoursValidation,
    PriceTier,
    Product,
    SeatLedgerEntry,
    Subscription,
    ValidationDayCount,
    WorkHoursPolicy,
)
from licensing.selectors import with_seats
from licensing.services import license_key_revoke


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    extra = 1


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name_ja", "name_en", "kind", "family", "base_family", "term_months", "tax_rate", "is_active"]
    list_filter = ["kind", "family", "is_active", "tax_rate"]
    search_fields = ["sku", "name_ja", "name_en"]
    inlines = [PriceTierInline]


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ["name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # tokens are issued with the action below, which shows the key once


class WorkHoursPolicyForm(forms.ModelForm):
    # Check boxes instead of the raw JSON list the model stores.
    working_days = forms.TypedMultipleChoiceField(
        label=capfirst(_("working days")), choices=IsoWeekday.choices, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    public_holidays = forms.ChoiceField(
        label=capfirst(_("public holidays")),
        choices=holiday_country_choices,
        required=False,
        initial="JP",
        help_text=_("Country whose public holidays are days off (the holidays package); “none”: every listed weekday is worked."),
    )

    class Meta:
        model = WorkHoursPolicy
        fields = ["is_active", "mode", "time_zone", "working_days", "start_time", "end_time", "public_holidays"]


class WorkHoursPolicyInline(admin.StackedInline):
    model = WorkHoursPolicy
    form = WorkHoursPolicyForm
    extra = 0
    max_num = 1
    verbose_name_plural = _("work-hours policy (労務管理)")


class ClosedPeriodInline(admin.TabularInline):
    model = ClosedPeriod
    extra = 0
    fields = ["name", "first_day", "last_day", "every_year"]


# The count staff see per customer: outside-hours validations in this many recent days.
OUTSIDE_HOURS_COUNT_DAYS = 30


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "honorific", "credit_limit", "manual_approval", "is_active", "outside_hours_recently"]
    list_filter = ["is_active", "manual_approval", "honorific"]
    search_fields = ["code", "name", "billing_email"]
    inlines = [WorkHoursPolicyInline, ClosedPeriodInline, ApiTokenInline]
    actions = ["issue_token"]

    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=OUTSIDE_HOURS_COUNT_DAYS)
        recent = (
            OutsideHoursValidation.objects.filter(customer=OuterRef("pk"), at__gte=since)
            .order_by()
            .values("customer")
            .annotate(total=Count("id"))
            .values("total")
        )
        return super().get_queryset(request).annotate(
            outside_hours_recently=Coalesce(Subquery(recent, output_field=IntegerField()), Value(0))
        )

    def view_on_site(self, customer):
        return customer.get_absolute_url()  # the staff page with the seat charts

    @admin.display(description=_("outside-hours validations (30 days)"), ordering="outside_hours_recently")
    def outside_hours_recently(self, customer):
        return customer.outside_hours_recently

    @admin.action(description=_("Issue an API token (shown once)"))
    def issue_token(self, request, queryset):
        for customer in queryset:
            _token, raw_key = ApiToken.objects.issue(customer=customer, name=f"admin:{request.user.get_username()}")
            self.message_user(
                request, _("Token for %(code)s (copy it now, it is not stored): %(key)s") % {"code": customer.code, "key": raw_key},
                messages.WARNING,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["customer", "name", "prefix", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["customer__code", "customer__name", "name", "prefix"]
    readonly_fields = ["customer", "prefix", "created_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SeatLedgerInline(ReadOnlyInline):
    """Append-only: entries come from provisioning and adjustments, never from this page."""

    model = SeatLedgerEntry
    fields = ["created_at", "quantity", "reason", "reference"]
    readonly_fields = fields
    ordering = ["created_at", "id"]


class LicenseKeyInline(ReadOnlyInline):
    model = LicenseKey
    fields = ["key", "reference", "issued_at", "revoked_at"]
    readonly_fields = fields
    show_change_link = True  # revoke from the key's own page or list


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["customer", "sku", "seats", "term_start", "term_end", "status"]
    list_filter = ["status", "product"]
    search_fields = ["customer__code", "customer__name", "product__sku"]
    list_select_related = ["customer", "product"]
    fields = ["customer", "product", "seats", "term_start", "term_end", "status", "created_at"]
    readonly_fields = ["customer", "product", "seats", "created_at"]
    inlines = [SeatLedgerInline, LicenseKeyInline]

    def get_queryset(self, request):
        return with_seats(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # provisioning creates subscriptions, with their first ledger entry

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger protects it; suspend instead

    @admin.display(description=_("seats"), ordering="seats")
    def seats(self, subscription):
        return subscription.seats

    @admin.display(description=_("SKU"), ordering="product__sku")
    def sku(self, subscription):
        return subscription.product.sku


@admin.register(SeatLedgerEntry)
class SeatLedgerEntryAdmin(admin.ModelAdmin):
    """Read-only: find an entry by its reference (e.g. order-line:1234)."""

    list_display = ["created_at", "subscription", "quantity", "reason", "reference"]
    list_filter = ["subscription__product"]
    search_fields = ["reference", "subscription__customer__code", "subscription__customer__name"]
    list_select_related = ["subscription__customer", "subscription__product"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RevokedFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("usable", _("Usable")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "usable":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(LicenseKey)
class LicenseKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "customer", "product", "issued_at", "revoked_at"]
    list_filter = [RevokedFilter, "subscription__product"]
    search_fields = ["key", "reference", "subscription__customer__code", "subscription__customer__name"]
    list_select_related = ["subscription__customer", "subscription__product"]
    fields = ["key", "subscription", "reference", "issued_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are issued by provisioning

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key stays on record

    @admin.display(description=_("customer"), ordering="subscription__customer__code")
    def customer(self, license_key):
        return license_key.subscription.customer

    @admin.display(description=_("product"), ordering="subscription__product__sku")
    def product(self, license_key):
        return license_key.subscription.product.sku

    @admin.action(description=_("Revoke the selected license keys"))
    def revoke(self, request, queryset):
        count = sum(license_key_revoke(license_key=license_key) for license_key in queryset)
        self.message_user(request, _("%(count)d license key(s) revoked.") % {"count": count})


class RecordAdmin(admin.ModelAdmin):
    """The work-hours record is written by validations only: read it here, never edit it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # pruned after WORK_HOURS_RECORD_RETENTION_DAYS by the beat task


@admin.register(OutsideHoursValidation)
class OutsideHoursValidationAdmin(RecordAdmin):
    list_display = ["at", "customer", "license_key", "time_zone", "mode", "allowed"]
    list_filter = ["mode", "allowed", "customer"]
    search_fields = ["customer__code", "customer__name", "license_key__key"]
    list_select_related = ["customer", "license_key"]
    date_hierarchy = "at"


@admin.register(ValidationDayCount)
class ValidationDayCountAdmin(RecordAdmin):
    list_display = ["day", "license_key", "allowed"]
    search_fields = ["license_key__key", "license_key__subscription__customer__code"]
    list_select_related = ["license_key"]
    date_hierarchy = "day"
