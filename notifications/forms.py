"""The preferences form: channels, a chat webhook, quiet hours, the daily digest."""

from __future__ import annotations

from django import forms

from .models import Preference


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ("email", "chat", "browser", "chat_webhook_url", "quiet_from", "quiet_to", "digest")
        labels = {
            "email": "Email",
            "chat": "Chat",
            "browser": "Browser",
            "chat_webhook_url": "Chat webhook URL",
            "quiet_from": "Quiet hours from",
            "quiet_to": "Quiet hours to",
            "digest": "Daily digest",
        }
        widgets = {
            "quiet_from": forms.TimeInput(attrs={"type": "time"}),
            "quiet_to": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean(self):
        data = super().clean()
        if data.get("chat") and not data.get("chat_webhook_url"):
            self.add_error("chat_webhook_url", "Chat needs the URL of an incoming webhook.")
        if (data.get("quiet_from") is None) != (data.get("quiet_to") is None):
            self.add_error("quiet_to", "Give both ends of the quiet hours, or neither.")
        return data
