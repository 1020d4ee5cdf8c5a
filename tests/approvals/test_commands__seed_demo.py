"""seed_demo: demo users and one paused run per example workflow, DEBUG only, idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from workflows import registry
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_does_nothing_without_debug(settings):
    settings.DEBUG = False
    assert "DEBUG is off" in seed()
    assert not get_user_model().objects.exists()
    assert not WorkflowRun.objects.exists()


def test_creates_users_and_runs_once(settings, sent_runs):
    settings.DEBUG = True
    output = seed()
    User = get_user_model()
    reviewer, operator, admin = (User.objects.get(username=n) for n in ("reviewer", "operator", "admin"))
    assert "reviewer-demo" in output and "operator-demo" in output and "admin-demo" in output
    assert reviewer.check_password("reviewer-demo")
    assert reviewer.groups.filter(name="reviewers").exists()
    assert reviewer.has_perm("workflows.resolve_requirement") and not reviewer.has_perm("workflows.start_run")
    for perm in ("start_run", "view_workflowrun", "cancel_run", "resolve_requirement"):
        assert operator.has_perm(f"workflows.{perm}")
    assert admin.is_superuser and admin.is_staff

    assert WorkflowRun.objects.count() == len(registry.all_workflows())
    kinds = set(Requirement.objects.filter(status="PENDING").values_list("kind", flat=True))
    assert kinds >= {
        "confirmation",
        "user_input",
        "output_review",
        "route_selection",
        "iteration_review",
        "error",
        "external_execution",
    }

    quorum = Requirement.objects.get(workflow_name="purchase_approval", status="PENDING")
    assert quorum.approvals_required == 2 and quorum.priority == "high" and quorum.due_at is not None
    four_eyes = Requirement.objects.get(workflow_name="payment_release", status="PENDING")
    assert four_eyes.separation_of_duties and four_eyes.priority == "urgent" and four_eyes.run.created_by == operator

    again = seed()
    assert "Runs exist already" in again
    assert WorkflowRun.objects.count() == len(registry.all_workflows())
    assert User.objects.count() == 3
