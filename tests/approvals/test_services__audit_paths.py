"""Every resolution writes exactly one audit row, whatever the path: the decision page, the JSON API,
the Python API (``req.confirm()`` then ``wf.continue_run``), and a timeout (the sweeper, a late
decision, a continuation that finds the deadline passed) as the user "system". A refused decision
writes none."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision
from approvals.services import content_hash
from workflows import services
from workflows.engine import ConflictError, ExpiredError, HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


def _gated(name: str, **review) -> Workflow:
    return Workflow(
        name=name,
        steps=[
            Step(
                name="send", executor=lambda si: "sent", human_review=HumanReview(requires_confirmation=True, **review)
            )
        ],
    )


@pytest.fixture
def gated(temp_workflow):
    return temp_workflow(_gated("audit_gated"))


def _pending(wf: Workflow) -> Requirement:
    out = wf.run("x")
    return Requirement.objects.get(run_id=out.run_id, status="PENDING")


def test_a_decision_on_the_page_writes_one_row(gated, reviewer_client, reviewer):
    req = _pending(gated)
    response = reviewer_client.post(
        reverse("approvals:decide", args=[req.id]), {"action": "confirm", "version": req.version}
    )
    assert response.status_code == 302
    (decision,) = Decision.objects.all()
    assert (decision.requirement_id, decision.user, decision.username, decision.action) == (
        req.id,
        reviewer,
        "rita",
        "confirm",
    )


def test_a_decision_through_the_api_writes_one_row(gated, reviewer_client, reviewer):
    req = _pending(gated)
    response = reviewer_client.post(
        reverse("workflows:api-requirement-resolve", args=[req.id]),
        json.dumps({"action": "reject", "data": {"feedback": "no"}, "version": req.version}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    (decision,) = Decision.objects.all()
    assert (decision.user, decision.action, decision.data) == (reviewer, "reject", {"feedback": "no"})


def test_a_decision_through_the_python_api_writes_one_row(gated, reviewer):
    out = gated.run("x")
    req = out.steps_requiring_confirmation[0]
    shown = dict(Requirement.objects.get(id=req.id).payload)
    req.reject(feedback="not today")
    done = gated.continue_run(out, user=reviewer)
    assert done.status == "COMPLETED"
    (decision,) = Decision.objects.all()
    assert str(decision.requirement_id) == req.id and str(decision.run_id) == out.run_id
    assert (decision.user, decision.username, decision.action) == (reviewer, "rita", "reject")
    assert decision.data == {"feedback": "not today"}
    assert decision.shown_hash == content_hash(shown)
    row = Requirement.objects.get(id=req.id)
    assert row.resolved_by == reviewer and row.resolved_by_name == "rita"


def test_a_python_api_decision_without_a_user_is_recorded_as_the_system(gated):
    out = gated.run("x")
    out.steps_requiring_confirmation[0].confirm()
    gated.continue_run(out)
    (decision,) = Decision.objects.all()
    assert decision.user is None and decision.username == "system" and decision.action == "confirm"


def test_a_python_api_decision_by_run_id_continuation_writes_one_row_per_requirement(temp_workflow, reviewer):
    wf = temp_workflow(
        Workflow(
            name="audit_two_gates",
            steps=[
                Step(name="a", executor=lambda si: 1, human_review=HumanReview(requires_confirmation=True)),
                Step(name="b", executor=lambda si: 2, human_review=HumanReview(requires_confirmation=True)),
            ],
        )
    )
    out = wf.run("x")
    out.steps_requiring_confirmation[0].confirm()
    out = wf.continue_run(out, user=reviewer)
    fresh = wf.get_run_output(out.run_id)
    fresh.steps_requiring_confirmation[0].confirm()
    assert wf.continue_run(fresh, user=reviewer).status == "COMPLETED"
    assert sorted(Decision.objects.values_list("requirement__step_name", flat=True)) == ["a", "b"]


def test_a_timeout_fired_by_the_sweeper_writes_one_system_row(temp_workflow, sent_runs):
    wf = temp_workflow(_gated("audit_timeout", timeout=60, on_timeout="approve"))
    req = _pending(wf)
    assert services.requirements_expire_due(now=req.timeout_at + timedelta(seconds=1)) == 1
    (decision,) = Decision.objects.all()
    assert decision.requirement_id == req.id
    assert (decision.user, decision.username, decision.action) == (None, "system", "timed_out")
    assert decision.data == {"on_timeout": "approve"}
    assert services.requirements_expire_due(now=req.timeout_at + timedelta(seconds=2)) == 0
    assert Decision.objects.count() == 1


def test_a_late_decision_writes_the_timeouts_row_only(temp_workflow, reviewer):
    wf = temp_workflow(_gated("audit_late", timeout=60))
    req = _pending(wf)
    with pytest.raises(ExpiredError):
        services.requirement_resolve(
            requirement_id=req.id,
            user=reviewer,
            action="confirm",
            version=req.version,
            now=req.timeout_at + timedelta(seconds=1),
        )
    (decision,) = Decision.objects.all()
    assert (decision.username, decision.action) == ("system", "timed_out")


def test_a_timeout_applied_when_a_python_continuation_claims_the_run_writes_one_system_row(temp_workflow):
    wf = temp_workflow(_gated("audit_claim_timeout", timeout=60, on_timeout="cancel"))
    out = wf.run("x")
    req = Requirement.objects.get(run_id=out.run_id)
    wf.clock = lambda: req.timeout_at + timedelta(seconds=1)  # the deadline passed before anyone looked
    continued = wf.continue_run(run_id=out.run_id)
    assert continued.status == "CANCELLED"
    (decision,) = Decision.objects.all()
    assert (decision.username, decision.action) == ("system", "timed_out")


def test_refused_decisions_write_no_row(gated, reviewer, reviewer_client):
    out = gated.run("x")
    req = Requirement.objects.get(run_id=out.run_id)
    # Page and API: stale version.
    page = reviewer_client.post(reverse("approvals:decide", args=[req.id]), {"action": "confirm", "version": 99})
    assert page.status_code == 409
    api = reviewer_client.post(
        reverse("workflows:api-requirement-resolve", args=[req.id]),
        json.dumps({"action": "confirm", "version": 99}),
        content_type="application/json",
    )
    assert api.status_code == 409
    # Python API: someone else decided first, so this continuation applies nothing.
    stale = gated.get_run_output(out.run_id)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert Decision.objects.count() == 1
    stale.steps_requiring_confirmation[0].reject()
    with pytest.raises(ConflictError):
        gated.continue_run(stale, user=reviewer)
    assert Decision.objects.count() == 1  # the first decision's only


def test_the_system_actor_survives_without_a_user_row(temp_workflow, sent_runs):
    # The audit row names the system in text: no user row is needed, none is created.
    wf = temp_workflow(_gated("audit_no_system_user", timeout=1))
    req = _pending(wf)
    services.requirements_expire_due(now=timezone.now() + timedelta(seconds=5))
    assert Decision.objects.get(requirement_id=req.id).username == "system"
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="system").exists()
