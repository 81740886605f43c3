"""Staff's view of customers' webhooks and e-mail: endpoints (secret shown once), delivery logs with "send again", events, e-mails."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from orderdesk.notifications.delivery import delivery_send_again
from orderdesk.notifications.emails import email_send_again
from orderdesk.notifications.endpoints import endpoint_problems, endpoint_rotate_secret
from orderdesk.notifications.events import EVENT_TYPES
from orderdesk.notifications.models import DeliveryAttempt, Event, OutboundEmail, WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(label=_("events"), choices=[(name, name) for name in EVENT_TYPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["customer", "url", "events", "description", "is_active"]

    def clean(self):
        data = super().clean()
        for problem in endpoint_problems(url=data.get("url"), events=data.get("events"), description=data.get("description", "")):
            self.add_error(problem.field if problem.field in self.fields else None, problem.message)
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "customer", "is_active", "failing_since", "disabled_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "customer__code", "customer__name"]
    list_select_related = ["customer"]
    readonly_fields = ["failing_since", "disabled_at", "disabled_reason", "previous_secret_expires_at", "created_at", "updated_at"]
    actions = ["rotate_secret"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(request, _("Signing secret of %(url)s, shown this once: %(secret)s") % {"url": obj.url, "secret": obj.secret})

    @admin.action(description=_("Rotate the signing secret (the old one signs too for 24 hours)"))
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = endpoint_rotate_secret(endpoint=endpoint)
            messages.warning(request, _("New signing secret of %(url)s, shown this once: %(secret)s") % {"url": rotated.url, "secret": rotated.secret})


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = readonly_fields = ["number", "attempted_at", "succeeded", "status_code", "duration_ms", "response_excerpt", "error"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RecordAdmin(admin.ModelAdmin):
    """A record the workers write (a delivery, an event, an e-mail): staff read it and act on it, never add or edit it.

    Not for WebhookEndpointAdmin: staff add and edit endpoints, and with every
    field read-only and adding refused, its add page would answer 403 instead
    of the form that names why a URL is refused.
    """

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    """The delivery log: one row per event and endpoint, its attempts inline."""

    list_display = ["event", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at", "created_at"]
    list_filter = ["status", "event__type"]
    search_fields = ["event__public_id", "endpoint__url", "endpoint__customer__code"]
    list_select_related = ["event", "endpoint"]
    inlines = [DeliveryAttemptInline]
    actions = ["send_again"]

    @admin.action(description=_("Send again"))
    def send_again(self, request, queryset):
        with transaction.atomic():
            for delivery in queryset:
                delivery_send_again(delivery=delivery)
        count = queryset.count()
        messages.success(request, ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count) % {"count": count})


@admin.register(Event)
class EventAdmin(RecordAdmin):
    list_display = ["public_id", "type", "customer", "created_at", "dispatched_at"]
    list_filter = ["type"]
    search_fields = ["public_id", "customer__code"]
    list_select_related = ["customer"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(RecordAdmin):
    list_display = ["subject", "kind", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["subject", "topic"]
    actions = ["send_again"]

    @admin.action(description=_("Send again"))
    def send_again(self, request, queryset):
        with transaction.atomic():
            for email in queryset:
                email_send_again(email=email)
        messages.success(request, ngettext("%(count)d e-mail queued again.", "%(count)d e-mails queued again.", queryset.count()) % {"count": queryset.count()})
