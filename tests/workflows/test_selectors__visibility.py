"""Who sees what: permissions and assignment decide, staff status alone grants nothing, and the
one rule serves pages, fragments and the API alike."""

from __future__ import annotations

import json

import pytest

from workflows import registry, selectors
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


def run_of(name: str, user=None) -> WorkflowRun:
    return WorkflowRun.objects.get(id=registry.get(name).run("x", user=user).run_id)


def pending(run: WorkflowRun) -> Requirement:
    return Requirement.objects.get(run=run, status=Requirement.Status.PENDING)


@pytest.fixture
def for_alice(temp_workflow, make_user, operator):
    """A run paused at a requirement assigned to user "alice"."""
    make_user("alice")
    temp_workflow(
        Workflow(
            name="visibility_assigned",
            steps=[
                Step(
                    name="for_alice",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, assignees=["alice"]),
                )
            ],
        )
    )
    return run_of("visibility_assigned", user=operator)


@pytest.fixture
def superuser(make_user):
    user = make_user("root")
    user.is_superuser = True
    user.save()
    return user


def test_staff_without_permissions_see_and_resolve_nothing(client, make_user, operator, for_alice, paused_run):
    staff = make_user("stella", staff=True)
    assert not selectors.requirements_visible_to(staff).exists()
    assert not selectors.requirements_inspectable_by(staff).exists()
    assert not selectors.runs_visible_to(staff).exists()
    assert not selectors.user_may_cancel_runs(staff)
    client.force_login(staff)
    assert client.get("/api/v1/requirements").json()["results"] == []
    req = pending(paused_run)
    assert client.get(f"/inbox/{req.id}/").status_code == 404
    response = client.post(
        f"/api/v1/requirements/{req.id}/resolve",
        json.dumps({"action": "confirm", "version": req.version}),
        content_type="application/json",
    )
    assert response.status_code == 404
    assert client.get(f"/runs/{for_alice.id}/").status_code == 404
    assert pending(paused_run).status == Requirement.Status.PENDING


def test_a_superuser_still_sees_everything(superuser, for_alice, paused_run):
    assert set(selectors.requirements_visible_to(superuser)) == set(Requirement.objects.all())
    assert set(selectors.runs_visible_to(superuser)) == {for_alice, paused_run}
    assert selectors.user_may_cancel_runs(superuser)


def test_start_run_alone_shows_only_the_runs_one_started(client, make_user, paused_run):
    starter = make_user("sam", "start_run")
    mine = run_of("onboarding", user=starter)
    assert list(selectors.runs_visible_to(starter)) == [mine]
    client.force_login(starter)
    assert client.get(f"/api/v1/runs/{paused_run.id}").status_code == 404
    assert client.get(f"/runs/{paused_run.id}/").status_code == 404
    assert f"/runs/{paused_run.id}/" not in client.get("/runs/").text
    assert client.get(f"/api/v1/runs/{mine.id}").status_code == 200


def test_view_workflowrun_shows_every_run(make_user, for_alice, paused_run):
    viewer = make_user("vic", "view_workflowrun")
    assert set(selectors.runs_visible_to(viewer)) == {for_alice, paused_run}


def test_a_reviewer_may_open_the_run_of_a_requirement_they_may_see_read_only(client, make_user, for_alice, paused_run):
    alice = make_user("alice2")  # no permission, not assigned: sees neither run
    assert not selectors.runs_visible_to(alice).exists()
    alice = type(alice).objects.get(username="alice")
    assert list(selectors.runs_visible_to(alice)) == [for_alice]
    client.force_login(alice)
    page = client.get(f"/runs/{for_alice.id}/")
    assert page.status_code == 200
    assert "Cancel run" not in page.text
    assert client.get(f"/api/v1/runs/{for_alice.id}").status_code == 200
    assert client.get(f"/runs/{paused_run.id}/").status_code == 404  # open to resolvers, and she is none


def test_inactive_users_see_nothing(superuser, paused_run):
    superuser.is_active = False
    superuser.save()
    assert not selectors.requirements_visible_to(superuser).exists()
    assert not selectors.runs_visible_to(superuser).exists()
