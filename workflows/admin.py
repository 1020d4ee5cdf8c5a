"""Admin over the workflows models: for inspecting, not editing.

Runs, step runs, requirements and events change only through ``services`` (locks, versions,
audit), so the admin shows them read-only; its one action, "Cancel selected runs", goes through
``services.run_cancel``. API tokens are created here (shown once) or with
``manage.py create_api_token``, and revoked by deleting them. A token lets anyone act as its user,
so the admin makes one only for the person asking (a superuser: for anyone), and lists only one's
own tokens.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .engine.errors import ConflictError, RunNotFoundError, RunStateError, ValidationError
from .engine.jsonvalues import pretty_json
from .models import ApiToken, AssignmentChange, Delegation, Requirement, RunEvent, StepRun, WorkflowRun
from .web.tokens import token_digest, token_new, user_may_hold_token

_ID_PREFIX = re.compile(r"[0-9a-f-]{4,36}")


def uuid_prefix_lookup(term: str) -> str | None:
    """The stored form of a (possibly partial) UUID typed in a search box, for ``istartswith``:
    SQLite keeps 32 hex digits, PostgreSQL the hyphenated text. None if it is no id prefix."""
    term = term.strip().lower()
    if not _ID_PREFIX.fullmatch(term):
        return None
    digits = term.replace("-", "")
    if not digits or len(digits) > 32:
        return None
    if connection.vendor != "postgresql":
        return digits
    groups, start = [], 0
    for size in (8, 4, 4, 4, 12):
        if start >= len(digits):
            break
        groups.append(digits[start : start + size])
        start += size
    return "-".join(groups)


class RunIdSearchMixin:
    """The search box also finds runs by the start of their id (the 8 characters pages show)."""

    run_id_field = "run__id"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        prefix = uuid_prefix_lookup(search_term)
        if prefix:
            results |= queryset.filter(**{f"{self.run_id_field}__istartswith": prefix})
        return results, may_have_duplicates


def json_block(value):
    """A JSON value, indented, in a block that scrolls rather than stretching the page."""
    return format_html('<pre class="hitl-admin-json">{}</pre>', pretty_json(value))


def short_id(value) -> str:
    """A UUID as the pages show it (8 characters), the full id in its tooltip."""
    return format_html('<code class="hitl-admin-id" title="{}">{}</code>', value, str(value)[:8])


class AdminAssets:
    css = {"all": ("workflows/admin.css",)}


class PauseKindFilter(admin.SimpleListFilter):
    """By pause kind, with a name for runs that are not paused (a blank value has no link text)."""

    title = "pause kind"
    parameter_name = "pause_kind"

    def lookups(self, request, model_admin):
        return [("step", "Step"), ("executor", "Executor (tool call)"), ("error", "Error"), ("none", "Not paused")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(pause_kind="")
        if value in ("step", "executor", "error"):
            return queryset.filter(pause_kind=value)
        return queryset


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
    fields = (
        "step_name",
        "path",
        "kind",
        "status",
        "version",
        "resolved_by_name",
        "resolved_at",
        "timeout_at",
        "decision",
    )
    ordering = ("created_at",)

    @admin.display(description="Resolution")
    def decision(self, obj):
        return json_block(obj.resolution) if obj.resolution else "—"


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    fields = ("seq", "event", "step_name", "path", "event_data", "created_at")
    ordering = ("seq",)
    show_change_link = False

    @admin.display(description="Data")
    def event_data(self, obj):
        return json_block(obj.data) if obj.data else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("memo")  # checkpoint data: large, and not for reading here


@admin.register(WorkflowRun)
class WorkflowRunAdmin(RunIdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    Media = AdminAssets
    run_id_field = "id"
    list_display = ("run_id", "workflow_name", "status", "pause_kind", "created_by", "created_at", "finished_at")
    list_filter = ("status", "workflow_name", PauseKindFilter, "created_at")
    search_fields = ("=id", "workflow_name", "created_by__username", "paused_step_name")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    readonly_fields = ("run_page", "rerun_of", "input_json", "additional_data_json", "content_json", "state_json")
    # The approvals app adds the decisions (its audit rows) to these.
    inlines = (StepRunInline, RequirementInline, RunEventInline)
    actions = ("cancel_runs",)
    fieldsets = (
        (None, {"fields": ("run_page", "id", "workflow_name", "fingerprint", "status", "created_by", "rerun_of")}),
        ("Pause", {"fields": ("pause_kind", "paused_step_name", "paused_step_path", "cancel_requested_by")}),
        ("Data", {"fields": ("input_json", "additional_data_json", "content_json", "error")}),
        ("Times", {"fields": ("created_at", "updated_at", "finished_at", "lease_until", "version")}),
        ("Engine checkpoint", {"classes": ("collapse",), "fields": ("state_json",)}),
    )

    @admin.display(description="Run", ordering="id")
    def run_id(self, obj):
        return short_id(obj.id)

    @admin.display(description="Input")
    def input_json(self, obj):
        return json_block(obj.input)

    @admin.display(description="Additional data")
    def additional_data_json(self, obj):
        return json_block(obj.additional_data)

    @admin.display(description="Content")
    def content_json(self, obj):
        return json_block(obj.content)

    @admin.display(description="State")
    def state_json(self, obj):
        return json_block(obj.state)

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


class ReassignForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True), required=False)
    group = forms.ModelChoiceField(queryset=Group.objects.all(), required=False)
    note = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if bool(data.get("user")) == bool(data.get("group")):
            raise forms.ValidationError("Choose a user or a group (one of them).")
        return data


@admin.register(Requirement)
class RequirementAdmin(RunIdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    Media = AdminAssets
    list_display = (
        "step_name",
        "kind",
        "status",
        "workflow_name",
        "run_short_id",
        "resolved_by_name",
        "created_at",
        "timeout_at",
    )
    list_filter = ("status", "kind", "workflow_name", "is_assigned")
    search_fields = ("=id", "step_name", "workflow_name", "message", "resolved_by_name", "=run__id")
    date_hierarchy = "created_at"
    raw_id_fields = ("run",)
    filter_horizontal = ("assignees", "groups")
    readonly_fields = ("payload_json", "resolution_json")
    exclude = ("payload", "resolution")
    actions = ("reassign_requirements",)

    @admin.action(description="Reassign selected requirements", permissions=("reassign",))
    def reassign_requirements(self, request, queryset):
        """Through ``services.requirement_reassign`` (locks, audit, live pages): a form first."""
        form = ReassignForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, refused = 0, []
            for req in queryset.filter(status=Requirement.Status.PENDING):
                try:
                    services.requirement_reassign(
                        requirement_id=req.id,
                        user=request.user,
                        to_user=form.cleaned_data["user"],
                        to_group=form.cleaned_data["group"],
                        note=form.cleaned_data["note"],
                    )
                    done += 1
                except (Requirement.DoesNotExist, ConflictError, PermissionError, ValidationError) as exc:
                    refused.append(f"{req.step_name}: {exc}")
            self.message_user(request, f"Reassigned {done} requirement(s).", messages.SUCCESS)
            for line in refused[:20]:
                self.message_user(request, line, messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign requirements",
            "form": form,
            "requirements": queryset,
            "opts": self.model._meta,
            "action_name": "reassign_requirements",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/workflows/requirement/reassign.html", context)

    def has_reassign_permission(self, request):
        return request.user.has_perm("workflows.reassign_requirement")

    @admin.display(description="Run", ordering="run_id")
    def run_short_id(self, obj):
        return short_id(obj.run_id)

    @admin.display(description="Payload")
    def payload_json(self, obj):
        return json_block(obj.payload)

    @admin.display(description="Resolution")
    def resolution_json(self, obj):
        return json_block(obj.resolution)


@admin.register(AssignmentChange)
class AssignmentChangeAdmin(RunIdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Who claimed, released, reassigned, took over or approved what: an audit trail, read-only."""

    list_display = ("created_at", "action", "actor_name", "from_label", "to_label", "note", "requirement")
    list_filter = ("action",)
    search_fields = ("actor_name", "from_label", "to_label", "=run__id")
    list_select_related = ("requirement",)
    raw_id_fields = ("requirement", "run", "actor")


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    """ "While I am away, my items go to bob". Superusers manage everyone's; others their own."""

    list_display = ("user", "delegate", "starts_at", "ends_at", "note")
    list_select_related = ("user", "delegate")
    raw_id_fields = ("user", "delegate")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        return () if request.user.is_superuser else ("user",)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form

        class OwnDelegationForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                self.instance.user = request.user  # before validation: the model's checks see it

        return OwnDelegationForm


@admin.register(RunEvent)
class RunEventAdmin(RunIdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    Media = AdminAssets
    list_display = ("run_short_id", "seq", "event", "step_name", "path", "created_at")
    list_filter = ("event",)
    search_fields = ("event", "step_name", "=run__id")
    raw_id_fields = ("run",)
    readonly_fields = ("data_json", "memo_json")
    exclude = ("data", "memo")

    @admin.display(description="Run", ordering="run_id")
    def run_short_id(self, obj):
        return short_id(obj.run_id)

    @admin.display(description="Data")
    def data_json(self, obj):
        return json_block(obj.data)

    @admin.display(description="Checkpoint data")
    def memo_json(self, obj):
        return json_block(obj.memo)


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
