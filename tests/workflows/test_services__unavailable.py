"""Runs whose workflow is not registered in this deployment (renamed or removed in code, or started
from a script with another module list): visible as such, decisions refused with a 409, resent
with a bounded backoff and then set aside, and back to normal once the workflow is registered."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision
from workflows import registry, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db

NOTICE = "Workflow not available in this deployment"


def _definition(name: str) -> Workflow:
    return Workflow(
        name=name,
        steps=[
            Step(name="prepare", executor=lambda si: "prepared"),
            Step(name="send", executor=lambda si: "sent", human_review=HumanReview(requires_confirmation=True)),
        ],
    )


@pytest.fixture
def gone(temp_workflow):
    """A run paused at "send", whose workflow is then removed from the registry (as a deploy that
    renamed it would leave it). Returns (definition, requirement)."""
    wf = temp_workflow(_definition("gone_flow"))
    out = wf.run("x")
    registry._registry.pop(wf.name)
    return wf, Requirement.objects.get(run_id=out.run_id)


def test_a_decision_is_refused_and_changes_nothing(gone, reviewer, sent_runs):
    _, req = gone
    with pytest.raises(registry.WorkflowUnavailableError, match=NOTICE):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    req.refresh_from_db()
    assert req.status == "PENDING" and req.version == 1
    assert Decision.objects.count() == 0 and sent_runs == []


def test_the_api_answers_409_workflow_unavailable(gone, reviewer, client, sent_runs):
    _, req = gone
    client.force_login(reviewer)
    response = client.post(
        reverse("workflows:api-requirement-resolve", args=[req.id]),
        json.dumps({"action": "confirm", "version": req.version}),
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "workflow_unavailable"
    assert NOTICE in response.json()["error"]
    assert Requirement.objects.get(id=req.id).status == "PENDING" and sent_runs == []


def test_the_decision_page_says_so_and_a_post_gets_409_with_the_message(gone, reviewer, client, sent_runs):
    _, req = gone
    client.force_login(reviewer)
    page = client.get(reverse("approvals:decide", args=[req.id]))
    html = page.content.decode()
    assert page.status_code == 200 and NOTICE in html
    assert ">Confirm<" not in html  # no form that could only be refused
    response = client.post(reverse("approvals:decide", args=[req.id]), {"action": "confirm", "version": req.version})
    assert response.status_code == 409
    assert NOTICE in response.content.decode()
    assert Requirement.objects.get(id=req.id).status == "PENDING" and sent_runs == []


def test_the_inbox_row_and_the_run_page_show_it(gone, reviewer, client, make_user):
    _, req = gone
    client.force_login(reviewer)
    inbox = client.get(reverse("approvals:inbox")).content.decode()
    assert "workflow not available in this deployment" in inbox
    client.force_login(make_user("sam", "view_workflowrun", "view_requirement"))
    run_page = client.get(reverse("workflows:run-detail", args=[req.run_id])).content.decode()
    assert NOTICE in run_page and 'id="run-workflow-unavailable"' in run_page


def test_a_registered_workflows_pages_say_nothing_of_it(temp_workflow, reviewer, client):
    wf = temp_workflow(_definition("here_flow"))
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    client.force_login(reviewer)
    assert "not available" not in client.get(reverse("approvals:inbox")).content.decode()
    assert "not available" not in client.get(reverse("approvals:decide", args=[req.id])).content.decode()


def test_a_decided_run_is_resent_with_a_bounded_backoff_then_set_aside_then_continues_once_registered(
    temp_workflow, reviewer, sent_runs, django_capture_on_commit_callbacks
):
    wf = temp_workflow(_definition("renamed_flow"))
    out = wf.run("x")
    req = Requirement.objects.get(run_id=out.run_id)
    # Decided while the workflow was there; the deploy that removed it came before a worker ran it.
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert sent_runs == [out.run_id]
    registry._registry.pop(wf.name)
    assert services.run_advance(run_id=out.run_id) is None  # a worker that does not know it
    run = WorkflowRun.objects.get(id=out.run_id)
    assert run.status == "PAUSED" and run.lease_until is not None  # left for the sweeper

    sent_runs.clear()
    start = timezone.now()
    for minute in range(0, 24 * 60, 1):  # a day of sweeps, one a minute
        services.runs_recover(now=start + timedelta(minutes=minute, seconds=1))
    assert 1 <= len(sent_runs) <= 6, sent_runs  # resent while the wait doubles, then no more
    run.refresh_from_db()
    assert run.status == "PAUSED" and run.lease_until is None
    assert run.error.startswith(NOTICE)
    assert run.events.filter(event="WorkflowUnavailable").count() == 1

    # Registered again (a deploy restores it): the next sweep sends it, and it completes.
    registry.register(wf)
    sent_runs.clear()
    assert services.sweep()["recovered"] == 1
    assert sent_runs == [out.run_id]
    assert WorkflowRun.objects.get(id=out.run_id).error == ""
    assert services.run_advance(run_id=out.run_id) == "COMPLETED"
    run.refresh_from_db()
    assert run.status == "COMPLETED" and run.content == "sent" and run.error == ""
    assert services.sweep()["recovered"] == 0


def test_a_pending_run_whose_workflow_went_away_is_set_aside_too(temp_workflow, operator, sent_runs):
    wf = temp_workflow(_definition("pending_gone"))
    run = services.run_start(workflow_name=wf.name, input="x", user=operator)
    registry._registry.pop(wf.name)
    start = timezone.now()
    for minute in range(0, 24 * 60, 1):
        services.runs_recover(now=start + timedelta(minutes=minute, seconds=1))
    run.refresh_from_db()
    assert run.status == "PENDING" and run.lease_until is None and run.error.startswith(NOTICE)
    registry.register(wf)
    assert services.sweep()["recovered"] == 1
    assert services.run_advance(run_id=run.id) == "PAUSED"
