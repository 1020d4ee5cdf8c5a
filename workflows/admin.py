"""Admin over the workflows models: for inspecting, not editing.

Runs, step runs, requirements and events change only through ``services`` (locks, versions,
audit), so the admin shows them read-only; its one action, "Cancel selected runs", goes through
``services.run_cancel``. API tokens are created here (shown once) or with
``manage.py create_api_token``, and revoked by deleting them. A token lets anyone act as its user,
so the admin makes one only for the person asking (a superuser: for anyone), and lists only one's
own tokens.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .engine.errors import RunNotFoundError, RunStateError
from .models import ApiToken, Requirement, RunEvent, StepRun, WorkflowRun
from .tokens import token_digest, token_new, user_may_hold_token


class ReadOnlyMixin:
    """Nothing is added or changed here; deleting stays with whoever has the delete permission."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class StepRunInline(ReadOnlyInline):
    model = StepRun
    fields = ("name", "path", "kind", "iteration", "attempt", "status", "started_at", "finished_at", "error")
    ordering = ("id",)


class RequirementInline(ReadOnlyInline):
    model = Requirement
    fields = ("step_name", "path", "kind", "status", "version", "resolved_by_name", "resolved_at", "timeout_at")
    ordering = ("created_at",)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "workflow_name", "status", "pause_kind", "created_by", "created_at", "finished_at")
    list_filter = ("status", "workflow_name", "pause_kind", "created_at")
    search_fields = ("=id", "workflow_name", "created_by__username", "paused_step_name")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    readonly_fields = ("run_page",)
    inlines = (StepRunInline, RequirementInline)
    actions = ("cancel_runs",)
    fieldsets = (
        (None, {"fields": ("run_page", "id", "workflow_name", "fingerprint", "status", "created_by")}),
        ("Pause", {"fields": ("pause_kind", "paused_step_name", "paused_step_path", "cancel_requested_by")}),
        ("Data", {"fields": ("input", "additional_data", "content", "error")}),
        ("Times", {"fields": ("created_at", "updated_at", "finished_at", "lease_until", "version")}),
        ("Engine checkpoint", {"classes": ("collapse",), "fields": ("state",)}),
    )

    @admin.display(description="Run page")
    def run_page(self, obj):
        return format_html('<a href="{}">Open the run page</a>', reverse("workflows:run-detail", args=[obj.id]))

    @admin.action(description="Cancel selected runs", permissions=("cancel",))
    def cancel_runs(self, request, queryset):
        cancelled, skipped = 0, 0
        for run_id in queryset.values_list("id", flat=True):
            try:
                services.run_cancel(run_id=run_id, user=request.user)
                cancelled += 1
            except (RunStateError, RunNotFoundError):
                skipped += 1
        self.message_user(request, f"Cancelled {cancelled} run(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} run(s) were not active and stay as they were.", messages.WARNING)

    def has_cancel_permission(self, request):
        return request.user.has_perm("workflows.cancel_run")


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "path", "kind", "iteration", "attempt", "status", "run", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("name", "path", "=run__id")
    list_select_related = ("run",)
    raw_id_fields = ("run",)


@admin.register(Requirement)
class RequirementAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("step_name", "kind", "status", "workflow_name", "resolved_by_name", "created_at", "timeout_at")
    list_filter = ("status", "kind", "workflow_name", "is_assigned")
    search_fields = ("=id", "step_name", "workflow_name", "message", "resolved_by_name", "=run__id")
    date_hierarchy = "created_at"
    raw_id_fields = ("run",)
    filter_horizontal = ("assignees", "groups")


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("run", "seq", "event", "step_name", "path", "created_at")
    list_filter = ("event",)
    search_fields = ("event", "step_name", "=run__id")
    list_select_related = ("run",)
    raw_id_fields = ("run",)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user",)

    def clean_user(self):
        user = self.cleaned_data["user"]
        if not user_may_hold_token(user):
            raise forms.ValidationError("This user is inactive or has no usable password: a token would not work.")
        return user


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Add a token: it is shown once, in the confirmation message. Superusers choose the user;
    anyone else with the add permission gets a token for themselves only, and sees only theirs."""

    form = ApiTokenForm
    list_display = ("user", "digest_prefix", "created_at", "last_used_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)

    @admin.display(description="Digest")
    def digest_prefix(self, obj):
        return f"{obj.digest[:12]}…"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_fields(self, request, obj=None):
        return ("user",) if request.user.is_superuser else ()

    def has_change_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        if not request.user.is_superuser:  # their form has no user field, whatever the POST says
            obj.user = request.user
        return obj

    def save_model(self, request, obj, form, change):
        if not user_may_hold_token(obj.user):  # a requester without a usable password
            raise PermissionDenied("This user is inactive or has no usable password: a token would not work.")
        token = token_new()
        obj.digest = token_digest(token)
        super().save_model(request, obj, form, change)
        self.message_user(
            request, f"API token for {obj.user}: {token} — copy it now, it is not shown again.", messages.WARNING
        )
