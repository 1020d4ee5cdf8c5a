"""The audit trail of the reviewer app: one immutable row per human decision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from workflows.models import Requirement, WorkflowRun


class Decision(models.Model):
    """Who decided what, when, on which requirement, having seen what.

    Written by :func:`approvals.services.decision_record` inside the transaction that resolves the
    requirement (``workflows.services.resolution_hooks``), so a decision and its audit row commit
    together or not at all. Rows are never updated.
    """

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="decisions")
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="decisions")
    # Null for the system; ``username`` survives the user's deletion.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=20)
    data = models.JSONField(default=dict, blank=True, help_text="The decision's data (values, choices, output...).")
    shown_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the canonical JSON of the payload the reviewer was shown."
    )
    diff = models.TextField(blank=True, help_text="Unified diff of an edited output (old -> new).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["run", "created_at"], name="decision_run_created"),
            models.Index(fields=["-created_at"], name="decision_created"),
        ]

    def __str__(self):
        return f"{self.username} {self.action} {self.requirement_id}"

    def save(self, *args, **kwargs):
        # An audit row is written once; correcting history means adding a row, not editing one.
        if not self._state.adding:
            raise ValueError("Decision rows are immutable.")
        super().save(*args, **kwargs)
