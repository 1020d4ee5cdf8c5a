"""Rows of the notifications app: webhook endpoints, the delivery queue, people's preferences,
and the used action-link tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from workflows.models import Requirement

from .addresses import validate_target

EVENTS = (
    "requirement.created",
    "requirement.resolved",
    "requirement.expired",
    "run.completed",
    "run.failed",
    "run.cancelled",
)


class WebhookEndpoint(models.Model):
    """A URL that receives signed JSON POSTs for the events it subscribed to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000, validators=[validate_target])
    events = models.JSONField(default=list, help_text="Event names, e.g. requirement.created, run.completed.")
    # Shown once, when the endpoint is created; the receiver verifies signatures with it.
    secret = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.url


class Delivery(models.Model):
    """One message to send (a webhook POST, a mail), queued in the transaction that caused it and
    sent afterwards, again and again with growing waits until it is delivered or dead."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"
        CHAT = "chat"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        SKIPPED = "skipped", "Skipped (nothing left to say)"
        DEAD = "dead", "Dead (gave up)"

    # The webhook's X-HITL-Delivery (the same on every attempt) and the body's "id".
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    event = models.CharField(max_length=40)
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.CharField(max_length=2000, help_text="The URL or mail address it goes to.")
    requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # The run of a run.* event: its JSON is read when first sent (an ended run no longer changes).
    run_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="A webhook's body as sent.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self):
        return f"{self.event} to {self.target} ({self.status})"


class Preference(models.Model):
    """How a person wants to hear of work. Without a row, their groups' defaults apply (any group
    that turns a channel on turns it on), and without those: mail and browser on, chat off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(default=True, help_text="Mail me when something waits for me.")
    chat = models.BooleanField(default=False, help_text="Post to my chat webhook.")
    browser = models.BooleanField(default=True, help_text="Desktop notifications from an open inbox tab.")
    chat_webhook_url = models.URLField(
        max_length=2000, blank=True, validators=[validate_target], help_text="A Slack-compatible incoming webhook."
    )
    quiet_from = models.TimeField(null=True, blank=True, help_text="No mail or chat from this time...")
    quiet_to = models.TimeField(null=True, blank=True, help_text="...to this time (the site's time zone).")
    digest = models.BooleanField(default=False, help_text="A daily mail of what waits and what is overdue.")
    digest_sent_on = models.DateField(null=True, blank=True, editable=False)

    def __str__(self):
        return f"preferences of {self.user}"


class GroupPreference(models.Model):
    """A group's default channels for members without preferences of their own, and its chat
    webhook: requirements assigned to the group are posted there."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="notification_preference")
    email = models.BooleanField(default=True)
    chat = models.BooleanField(default=False)
    browser = models.BooleanField(default=True)
    chat_webhook_url = models.URLField(
        max_length=2000, blank=True, validators=[validate_target], help_text="A Slack-compatible incoming webhook."
    )

    def __str__(self):
        return f"defaults of {self.group}"


class UsedActionToken(models.Model):
    """A decide-from-the-message link that was used (each works once): written in the transaction
    of the decision it made, so it also records that the decision came through a link."""

    digest = models.CharField(max_length=64, primary_key=True, help_text="SHA-256 of the token.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requirement = models.ForeignKey(Requirement, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20)
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.action} by {self.user} through a link at {self.used_at}"


class FollowUp(models.Model):
    """What is still to come for a pending requirement whose step asks for reminders or
    escalation: the time of the next reminder and of the next escalation step. Rows, so that a
    restart forgets nothing; the sweeper takes them with a lock, so each fires once."""

    requirement = models.OneToOneField(Requirement, on_delete=models.CASCADE, primary_key=True, related_name="+")
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    reminded_before_deadline = models.BooleanField(default=False)
    reminders_sent = models.PositiveIntegerField(default=0)
    escalations_done = models.PositiveIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="The earlier of the two: what the sweeper looks at.")

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="follow_up_due")]

    def __str__(self):
        return f"follow-up of {self.requirement_id} (next at {self.due_at})"
