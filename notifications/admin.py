"""Admin: webhook endpoints (added here, their secret shown once) and the delivery log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from . import services
from .models import EVENTS, Delivery, GroupPreference, Preference, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=[(e, e) for e in EVENTS], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "events", "is_active")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Add an endpoint: its secret is shown once, in the confirmation message."""

    form = WebhookEndpointForm
    list_display = ("url", "events", "is_active", "created_by", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url",)

    def save_model(self, request, obj, form, change):
        if change:  # url, events, is_active; the secret stays
            super().save_model(request, obj, form, change)
            return
        created = services.webhook_create(url=obj.url, events=form.cleaned_data["events"], user=request.user)
        obj.pk, obj.secret, obj._state.adding = created.pk, created.secret, False
        self.message_user(
            request,
            f"Webhook secret for {created.url}: {created.secret} — copy it now, it is not shown again.",
            messages.WARNING,
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only; its action sends deliveries again through the services."""

    list_display = ("event", "channel", "target", "status", "attempts", "response_code", "last_error", "created_at")
    list_filter = ("status", "channel", "event")
    search_fields = ("=id", "target", "=requirement__id")
    date_hierarchy = "created_at"
    raw_id_fields = ("endpoint", "recipient", "requirement")
    actions = ["send_again"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Send selected deliveries again", permissions=["view"])
    def send_again(self, request, queryset):
        count = sum(services.delivery_retry(delivery_id=d.id) for d in queryset.only("id"))
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email", "chat", "browser", "quiet_from", "quiet_to", "digest")
    raw_id_fields = ("user",)


@admin.register(GroupPreference)
class GroupPreferenceAdmin(admin.ModelAdmin):
    """A group's default channels (for members without preferences) and its chat webhook."""

    list_display = ("group", "email", "chat", "browser", "chat_webhook_url")
