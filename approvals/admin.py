from django.contrib import admin

from workflows.admin import WorkflowRunAdmin, json_block

from .models import Decision


class DecisionInline(admin.TabularInline):
    """A run's decisions on its admin page (the audit rows are the approvals app's)."""

    model = Decision
    fk_name = "run"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("created_at", "username", "action", "step_name", "decision_data", "diff")
    readonly_fields = fields
    ordering = ("created_at", "id")

    @admin.display(description="step")
    def step_name(self, obj):
        return obj.requirement.step_name

    @admin.display(description="data")
    def decision_data(self, obj):
        return json_block(obj.data) if obj.data else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requirement")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


WorkflowRunAdmin.inlines = (*WorkflowRunAdmin.inlines, DecisionInline)


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """The audit trail, read-only: rows are written by decisions, never by hand."""

    list_display = ("created_at", "username", "action", "step_name", "workflow_name", "run")
    list_filter = ("action", "requirement__kind", "requirement__workflow_name")
    search_fields = ("username", "requirement__step_name", "requirement__workflow_name", "=run__id")
    date_hierarchy = "created_at"
    list_select_related = ("requirement", "run")
    readonly_fields = (
        "requirement",
        "run",
        "user",
        "username",
        "action",
        "data",
        "shown_hash",
        "diff",
        "created_at",
    )

    @admin.display(description="step", ordering="requirement__step_name")
    def step_name(self, obj):
        return obj.requirement.step_name

    @admin.display(description="workflow", ordering="requirement__workflow_name")
    def workflow_name(self, obj):
        return obj.requirement.workflow_name

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
