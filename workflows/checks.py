"""System checks: every registered workflow definition imports and validates, and the people it
assigns requirements to exist."""

from django.core import checks
from django.db import DatabaseError


@checks.register()
def check_workflow_definitions(app_configs=None, **kwargs):
    from workflows import registry

    try:
        registry.discover()
    except Exception as exc:  # a definition error names the step and the option
        return [checks.Error(f"A workflow module failed to load: {type(exc).__name__}: {exc}", id="workflows.E001")]
    errors = []
    for wf in registry.all_workflows():
        if not wf.steps:
            errors.append(checks.Error(f"Workflow '{wf.name}' has no steps", id="workflows.E002"))
    return errors


def workflow_assignments() -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
    """``(workflow, step name, path, assignees, groups)`` of every gate that names people."""
    from workflows import registry

    found = []
    for wf in registry.all_workflows():
        for path, node in wf.index.items():
            review = node.human_review
            if review is not None and (review.assignees or review.groups):
                found.append((wf.name, node.name, path, tuple(review.assignees), tuple(review.groups)))
    return found


@checks.register()
def check_workflow_assignments(app_configs=None, **kwargs):
    """A typo in ``assignees`` or ``groups`` would leave its requirements to superusers alone.

    Reads the users and groups that exist now: a group created later (after ``migrate``, in the
    admin) clears the warning. Without a usable database (not migrated yet) there is nothing to
    compare with, and nothing is reported.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    try:
        assignments = workflow_assignments()
    except Exception:  # a module that fails to load is check_workflow_definitions' error
        return []
    if not assignments:
        return []
    user_model = get_user_model()
    named_users = {name for *_, assignees, _ in assignments for name in assignees}
    named_groups = {name for *_, group_names in assignments for name in group_names}
    try:
        users = set(
            user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": named_users}).values_list(
                user_model.USERNAME_FIELD, flat=True
            )
        )
        groups = set(Group.objects.filter(name__in=named_groups).values_list("name", flat=True))
    except DatabaseError:
        return []
    warnings = []
    for workflow, step, path, assignees, group_names in assignments:
        where = f"Workflow '{workflow}', step '{step}' ({path})"
        for name in group_names:
            if name not in groups:
                warnings.append(
                    checks.Warning(
                        f"{where}: assigned to unknown group '{name}'",
                        hint="Create the group or fix the name; meanwhile its requirements are shown to "
                        "the assignment's other members and staff only.",
                        id="workflows.W001",
                    )
                )
        for name in assignees:
            if name not in users:
                warnings.append(
                    checks.Warning(
                        f"{where}: assigned to unknown user '{name}'",
                        hint="Create the user or fix the name; meanwhile its requirements are shown to "
                        "the assignment's other members and staff only.",
                        id="workflows.W002",
                    )
                )
    return warnings
