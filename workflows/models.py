"""Rows of runs, step attempts, requirements and events.

Only ``workflows/store/`` converts these to engine state and back; services change them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .engine.primitives import PRIORITIES, RunStatus
from .engine.requirements import EXECUTOR_KINDS, KINDS, REQUIREMENT_STATUSES

# "No date" in the inbox's sort keys: after every real date.
NO_DATE = datetime(9999, 12, 31, tzinfo=UTC)
# The permission (declared in Requirement.Meta) that opens unassigned requirements to a user.
RESOLVE_PERM = "workflows.resolve_requirement"


def _choices(name: str, values, labels: dict[str, str] | None = None) -> type[models.TextChoices]:
    """Choices named after the engine's values (``PENDING``, ``USER_INPUT``...), so a status, kind
    or priority the engine adds is a choice too. Labels: the value in words unless ``labels`` says."""
    labels = labels or {}
    return models.TextChoices(
        name, [(value.upper(), (value, labels.get(value, value.replace("_", " ").capitalize()))) for value in values]
    )


class WorkflowRun(models.Model):
    Status = _choices("Status", [status.value for status in RunStatus])

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.PAUSED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow_name = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="Hash of the definition the run started with.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    input = models.JSONField(null=True, blank=True)
    additional_data = models.JSONField(default=dict, blank=True)
    content = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Engine checkpoint (memo snapshot).")
    pause_kind = models.CharField(max_length=12, blank=True)
    paused_step_name = models.CharField(max_length=200, blank=True)
    paused_step_path = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(default=0)
    # A worker holds the run until this time while it executes; an expired lease means the worker
    # died and the sweeper hands the run to another one.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Set when someone cancels a RUNNING run: its worker stops after the current step.
    cancel_requested_by = models.CharField(max_length=150, blank=True)
    # Why the person who cancelled the run did so (asked for on the run page: cancelling is final).
    cancel_reason = models.TextField(blank=True, db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The starter's username as the engine knows it (a reloaded run keeps it without a join; it
    # survives the user's deletion).
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run this one reran (same workflow, same or edited input); kept when the original goes.
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns", editable=False
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="run_created"),
            models.Index(fields=["workflow_name", "-created_at"], name="run_workflow_created"),
            models.Index(fields=["status", "-created_at"], name="run_status_created"),
            # Analytics count runs by when they ended, over a period.
            models.Index(fields=["status", "finished_at"], name="run_status_finished"),
        ]
        permissions = [
            ("start_run", "Can start workflow runs"),
            ("cancel_run", "Can cancel workflow runs"),
            ("manage_webhooks", "Can manage outbound webhooks"),
        ]

    def __str__(self):
        return f"{self.workflow_name} {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class StepRun(models.Model):
    """One attempt of one step (leaf or container), written when the attempt ends."""

    class Status(models.TextChoices):
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"
        SKIPPED = "SKIPPED"
        REJECTED = "REJECTED"

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="step_runs")
    key = models.CharField(max_length=500, help_text="Runtime path: static path, @iteration, ~attempt.")
    path = models.CharField(max_length=500)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    iteration = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.name} [{self.path}] {self.status}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class Requirement(models.Model):
    Kind = _choices("Kind", KINDS, {"executor_confirmation": "Tool confirmation", "executor_user_input": "Tool input"})
    Status = _choices("Status", REQUIREMENT_STATUSES)
    Priority = _choices("Priority", PRIORITIES)

    # Sorting by priority walks an index on this number (the names do not sort in priority order).
    PRIORITY_RANKS = {priority: rank for rank, priority in enumerate(PRIORITIES)}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="requirements")
    key = models.CharField(max_length=600, help_text="Gate identity inside the run (runtime path:kind:n).")
    path = models.CharField(max_length=500)
    step_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    iteration = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    batch = models.CharField(max_length=600, blank=True, help_text="Tool calls of one agent turn.")
    resolution = models.JSONField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_by_name = models.CharField(max_length=150, blank=True, help_text="Username, or 'system'.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    timeout_at = models.DateTimeField(null=True, blank=True)
    on_timeout = models.CharField(max_length=10, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Assignment: named users and/or groups; with neither, anyone with resolve_requirement.
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="assigned_requirements")
    groups = models.ManyToManyField(Group, blank=True, related_name="assigned_requirements")
    is_assigned = models.BooleanField(default=False, help_text="True when assignees or groups restrict it.")
    # Names the definition assigns that matched no user or group when the requirement was created
    # (a typo, or a group not created yet): shown on the requirement, never dropped silently.
    unknown_assignment = models.JSONField(
        default=dict, blank=True, help_text='Unknown names: {"assignees": [...], "groups": [...]}.'
    )
    # Workflow name copied from the run so the inbox filters without a join.
    workflow_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    seq = models.PositiveIntegerField(default=0, help_text="Creation order inside the run.")
    # Teams: what the definition asks of the people deciding (see HumanReview).
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    priority_rank = models.PositiveSmallIntegerField(default=1, editable=False)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When it should be decided (not a timeout).")
    separation_of_duties = models.BooleanField(
        default=False, help_text="The run's starter and earlier deciders of the run may not decide it."
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approvals_per_group = models.JSONField(default=dict, blank=True, help_text='E.g. {"legal": 1, "finance": 1}.')
    # A claim tells colleagues someone works on it; only the claimer decides (or a take-over).
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Sort keys of the inbox, never null so one index serves "soonest first, none last" on every
    # database: the earlier of due_at and timeout_at, and timeout_at; NO_DATE when there is none.
    due_sort = models.DateTimeField(default=NO_DATE, editable=False)
    deadline_sort = models.DateTimeField(default=NO_DATE, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="requirement_unique_gate"),
            # At most one pending step-level requirement per step path, iteration and attempt
            # (tool calls of one agent turn are several, each keyed by its call id).
            models.UniqueConstraint(
                F("run"),
                F("path"),
                Coalesce("iteration", -1),
                F("kind"),
                F("attempt"),
                condition=Q(status="PENDING") & ~Q(kind__in=EXECUTOR_KINDS),
                name="requirement_one_pending_per_step",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at", "id"], name="req_status_created"),
            models.Index(fields=["status", "timeout_at"], name="req_status_timeout"),
            models.Index(fields=["run", "created_at"], name="req_run_created"),
            # Analytics read the decisions of a period: its cost follows the period, not the history.
            models.Index(fields=["status", "resolved_at"], name="req_status_resolved"),
            # The inbox's sort orders: each walks its index and stops after one page (age walks
            # req_status_created backwards).
            models.Index(fields=["status", "due_sort", "created_at", "id"], name="req_status_due"),
            models.Index(fields=["status", "deadline_sort", "created_at", "id"], name="req_status_deadline"),
            models.Index(
                fields=["status", "-priority_rank", "due_sort", "created_at", "id"], name="req_status_priority"
            ),
            models.Index(fields=["claimed_by", "status"], name="req_claimed_status"),
        ]
        permissions = [
            ("resolve_requirement", "Can resolve requirements"),
            ("reassign_requirement", "Can reassign requirements to other people"),
            ("override_claim", "Can decide requirements claimed by someone else"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.step_name} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def is_executor(self) -> bool:
        return self.kind in EXECUTOR_KINDS

    @property
    def action(self) -> str | None:
        return (self.resolution or {}).get("action")

    @property
    def unknown_assignment_labels(self) -> list[str]:
        """E.g. ``["assigned to unknown group finanse", "assigned to unknown user nobody"]``."""
        unknown = self.unknown_assignment or {}
        return [f"assigned to unknown group {name}" for name in unknown.get("groups", [])] + [
            f"assigned to unknown user {name}" for name in unknown.get("assignees", [])
        ]


class DecisionDay(models.Model):
    """A past day, in the time zone ``tz``, whose decided requirements are summed up in its
    ``DecisionCount`` rows: the analytics read those instead of every decision of the day. Written
    by ``workflows.web.analytics`` the first time a period shows the day; deleting a decided requirement
    deletes its day, summed up again when next shown."""

    tz = models.CharField(max_length=64)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tz", "day"], name="decision_day_unique")]

    def __str__(self):
        return f"{self.day} ({self.tz})"


class DecisionCount(models.Model):
    """The decisions of a day with one workflow, step, reviewer and outcome (approve, edit, reject,
    timeout, other), and a histogram of their times to decision (``workflows.web.analytics``'s buckets
    -> count; empty for timeouts)."""

    # No index of its own: the unique index starts with it.
    day = models.ForeignKey(DecisionDay, on_delete=models.CASCADE, related_name="counts", db_index=False)
    workflow_name = models.CharField(max_length=200)
    step_name = models.CharField(max_length=200)
    reviewer = models.CharField(max_length=150)
    outcome = models.CharField(max_length=10)
    decisions = models.PositiveIntegerField()
    durations = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "workflow_name", "step_name", "reviewer", "outcome"], name="decision_count_unique"
            )
        ]

    def __str__(self):
        return f"{self.day_id} {self.workflow_name}/{self.step_name} {self.reviewer} {self.outcome}: {self.decisions}"


class RequirementApproval(models.Model):
    """One person's approval toward a requirement's quorum (the last one resolves it)."""

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    # The approver's groups among those the quorum names, when they approved.
    groups = models.JSONField(default=list, blank=True)
    action = models.CharField(max_length=20)
    data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["requirement", "username"], name="approval_one_per_user"),
        ]

    def __str__(self):
        return f"{self.username} approved {self.requirement_id}"


class RequirementComment(models.Model):
    """A remark on a requirement, visible to whoever may see it; it never decides anything."""

    MAX_LENGTH = 5000

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment by {self.author_name}"


class StartKey(models.Model):
    """The one-time key of a start form: the same form sent twice (a double click, a resend)
    finds the run the first one started instead of starting another."""

    key = models.CharField(max_length=80, primary_key=True)  # "<user id>:<the form's key>"
    run_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return self.key


class AssignmentChange(models.Model):
    """Who claimed, released, reassigned or took over a requirement: when, from whom to whom, why."""

    class Action(models.TextChoices):
        CLAIM = "claim"
        RELEASE = "release"
        REASSIGN = "reassign"
        TAKE_OVER = "take_over", "Take over"
        CLAIM_EXPIRED = "claim_expired", "Claim expired"
        APPROVE = "approve"

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="assignment_changes")
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)
    from_label = models.CharField(max_length=300, blank=True)
    to_label = models.CharField(max_length=300, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["run", "created_at"], name="assignchange_run_created")]

    def __str__(self):
        return f"{self.get_action_display()} by {self.actor_name}"


class Delegation(models.Model):
    """ "While I am away, my items go to bob": between ``starts_at`` and ``ends_at`` the delegate
    sees and decides what is assigned to ``user`` by name (new and existing items alike)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegated_to_me")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="delegation_ends_after_start"),
            models.CheckConstraint(condition=~Q(user=F("delegate")), name="delegation_not_to_self"),
        ]
        indexes = [models.Index(fields=["delegate", "ends_at"], name="delegation_delegate_ends")]

    def __str__(self):
        return f"{self.user} -> {self.delegate} ({self.starts_at:%Y-%m-%d} to {self.ends_at:%Y-%m-%d})"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Must be after the start."})
        if self.user_id and self.user_id == self.delegate_id:
            raise ValidationError({"delegate": "Choose someone else."})
        # A delegation never opens requirements to someone who may not resolve requirements.
        if self.delegate_id and not (
            self.delegate.is_active and (self.delegate.is_superuser or self.delegate.has_perm(RESOLVE_PERM))
        ):
            raise ValidationError({"delegate": "The delegate must hold the permission to resolve requirements."})


class RunEvent(models.Model):
    """Append-only event log of a run; ``memo`` carries the engine's checkpoint data."""

    # No index of its own: the unique (run, seq) index serves lookups by run (one index less to
    # write at every checkpoint).
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=40)
    path = models.CharField(max_length=500, blank=True)
    step_name = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    memo = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_unique_seq")]

    def __str__(self):
        return f"{self.seq} {self.event} {self.step_name}"


class ApiToken(models.Model):
    """A per-user API token; only its SHA-256 is stored (``manage.py create_api_token``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"token of {self.user}"
