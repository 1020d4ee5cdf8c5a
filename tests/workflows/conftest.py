"""Users with the roles the pages and the API know, runs to look at, and a synchronous worker."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from workflows import registry, services
from workflows.models import WorkflowRun
from workflows.runtime import dispatch

PERMS = {
    "start_run": "workflows.start_run",
    "cancel_run": "workflows.cancel_run",
    "view_workflowrun": "workflows.view_workflowrun",
    "resolve_requirement": "workflows.resolve_requirement",
    "view_requirement": "workflows.view_requirement",
}


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, *perms: str, staff: bool = False, groups: tuple[str, ...] = ()):
        # A usable password (API tokens need one; the tests' hasher is fast); tests log in with
        # force_login.
        user = django_user_model.objects.create_user(username=username, password=f"{username}-pw", is_staff=staff)
        for codename in perms:
            user.user_permissions.add(Permission.objects.get(content_type__app_label="workflows", codename=codename))
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return django_user_model.objects.get(pk=user.pk)  # fresh: no stale permission cache

    return make


@pytest.fixture
def operator(make_user):
    """Starts, watches and cancels runs and sees what they wait for; does not resolve requirements."""
    return make_user("olga", "start_run", "cancel_run", "view_workflowrun", "view_requirement")


@pytest.fixture
def reviewer(make_user):
    """Resolves unassigned requirements; sees only the runs they started."""
    return make_user("rita", "resolve_requirement")


@pytest.fixture
def outsider(make_user):
    """Logged in, no permissions at all."""
    return make_user("otto")


@pytest.fixture
def paused_run(operator) -> WorkflowRun:
    """A data_export run paused at its "export" confirmation (run synchronously)."""
    out = registry.get("data_export").run("crm", user=operator)
    return WorkflowRun.objects.get(id=out.run_id)


@pytest.fixture
def sync_worker():
    """Runs scheduled continuations in the calling thread (with on-commit callbacks executed)."""
    dispatch.set_backend(lambda run_id: services.run_advance(run_id=run_id))
    yield
    dispatch.set_backend(None)
