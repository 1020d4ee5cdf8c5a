"""GET /api/v1/requirements, GET /api/v1/requirements/<id>, POST .../resolve: visibility, every error."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from workflows import registry
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


def post(client, url, body=None, *, raw: str | None = None):
    return client.post(url, raw if raw is not None else json.dumps(body or {}), content_type="application/json")


def pending_of(name: str, input="x", user=None) -> Requirement:
    run_id = registry.get(name).run(input, user=user).run_id
    return Requirement.objects.get(run_id=run_id, status="PENDING")


@pytest.fixture
def assigned(temp_workflow, make_user):
    """A requirement assigned to user "alice" and one assigned to group "legal"."""
    make_user("alice")
    temp_workflow(
        Workflow(
            name="api_assigned",
            steps=[
                Step(
                    name="for_alice",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, assignees=["alice"]),
                ),
                Step(
                    name="for_legal",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, groups=["legal"]),
                ),
            ],
        )
    )
    return pending_of("api_assigned")


@pytest.fixture
def api(client, reviewer):
    client.force_login(reviewer)
    return client


# -- list -----------------------------------------------------------------------------------------
def test_list__pending_requirements_the_caller_may_resolve(api, assigned):
    open_to_all = pending_of("data_export")
    body = api.get("/api/v1/requirements", {"status": "PENDING"}).json()
    ids = [r["id"] for r in body["results"]]
    assert ids == [str(open_to_all.id)]  # not alice's
    assert body["count"] == 1 and body["next"] is None
    [item] = body["results"]
    assert item["kind"] == "confirmation" and item["workflow"] == "data_export"
    assert item["step_name"] == "export" and item["version"] == 1


def test_list__defaults_to_pending(api):
    req = pending_of("data_export")
    assert [r["id"] for r in api.get("/api/v1/requirements").json()["results"]] == [str(req.id)]


def test_list__assignees_and_group_members_see_theirs(client, make_user, assigned, django_user_model):
    client.force_login(django_user_model.objects.get(username="alice"))
    assert [r["step_name"] for r in client.get("/api/v1/requirements").json()["results"]] == ["for_alice"]
    client.force_login(make_user("lee", groups=("legal",)))
    assert client.get("/api/v1/requirements").json()["results"] == []  # for_legal is not reached yet


def test_list__without_permission_is_empty(client, outsider):
    pending_of("data_export")
    client.force_login(outsider)
    assert client.get("/api/v1/requirements").json() == {"count": 0, "next": None, "results": []}


def test_list__filters_and_pages(api):
    reqs = [pending_of("data_export") for _ in range(3)]
    other = pending_of("blog_post")
    page = api.get("/api/v1/requirements", {"workflow": "data_export", "limit": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert "offset=2" in page["next"] and "workflow=data_export" in page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert {r["id"] for r in page["results"] + rest["results"]} == {str(r.id) for r in reqs}
    by_run = api.get("/api/v1/requirements", {"run": str(other.run_id)}).json()
    assert [r["id"] for r in by_run["results"]] == [str(other.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": "pending"}, "status"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"run": "not-a-uuid"}, "run"),
    ],
)
def test_list__bad_parameters_are_400(api, params, field):
    response = api.get("/api/v1/requirements", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


# -- detail ---------------------------------------------------------------------------------------
def test_detail__200_for_a_visible_requirement(api):
    req = pending_of("data_export")
    body = api.get(f"/api/v1/requirements/{req.id}").json()
    assert body["id"] == str(req.id)
    assert body["run_id"] == str(req.run_id)
    assert body["payload"] == {"schema": []}
    assert body["resolution"] is None


def test_detail__outside_the_assignment_is_404(api, assigned):
    response = api.get(f"/api/v1/requirements/{assigned.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_detail__unknown_and_non_uuid_are_404(api):
    assert api.get(f"/api/v1/requirements/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/requirements/12345").status_code == 404


def test_detail__superusers_and_auditors_inspect_everything_staff_status_alone_nothing(client, make_user, assigned):
    client.force_login(make_user("sid", staff=True))
    assert client.get(f"/api/v1/requirements/{assigned.id}").status_code == 404
    root = make_user("root")
    root.is_superuser = True
    root.save()
    client.force_login(root)
    assert client.get(f"/api/v1/requirements/{assigned.id}").status_code == 200
    client.force_login(make_user("aud", "view_requirement"))
    assert client.get(f"/api/v1/requirements/{assigned.id}").status_code == 200


# -- resolve --------------------------------------------------------------------------------------
def test_resolve__confirm_is_200_and_schedules_the_run(api, django_capture_on_commit_callbacks):
    req = pending_of("data_export")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm", "version": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "RESOLVED"
    assert body["resolution"] == {"action": "confirm"}
    assert body["resolved_by"] == "rita"
    assert body["version"] == 2
    assert body["actions"] == []
    assert callbacks


def test_resolve__the_run_goes_on(api, sync_worker, django_capture_on_commit_callbacks):
    req = pending_of("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm"})
    assert WorkflowRun.objects.get(id=req.run_id).status == WorkflowRun.Status.COMPLETED


def test_resolve__reject_with_feedback(api):
    req = pending_of("data_export")
    body = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "reject", "data": {"feedback": "no"}}).json()
    assert body["resolution"] == {"action": "reject", "feedback": "no"}


def test_resolve__user_input_is_validated_per_field(api):
    req = pending_of("trip_planner")
    url = f"/api/v1/requirements/{req.id}/resolve"
    response = post(api, url, {"action": "submit", "data": {"values": {"city": "Oslo", "days": "many"}}})
    assert response.status_code == 400
    assert "days" in response.json()["errors"]
    req.refresh_from_db()
    assert req.status == "PENDING" and req.version == 1
    ok = post(api, url, {"action": "submit", "data": {"values": {"city": "Oslo", "days": 3}}})
    assert ok.status_code == 200
    assert ok.json()["resolution"]["values"] == {"city": "Oslo", "days": 3}


def test_resolve__edit_needs_an_output(api):
    req = pending_of("blog_post")
    url = f"/api/v1/requirements/{req.id}/resolve"
    for data in ({}, {"output": None}):  # null would replace the draft with nothing, unseen
        response = post(api, url, {"action": "edit", "data": data})
        assert response.status_code == 400
        assert response.json()["errors"] == {"output": "This field is required."}
    assert post(api, url, {"action": "edit", "data": {"output": "better"}}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "action"),
        ({"action": "approve"}, "action"),  # not an action at all
        ({"action": "select"}, "action"),  # an action, not one a confirmation takes
        ({"action": ["confirm"]}, "action"),
        ({"action": None}, "action"),
        ({"action": "confirm", "data": [1]}, "data"),
        ({"action": "confirm", "data": "x"}, "data"),
        ({"action": "confirm", "version": "1"}, "version"),
        ({"action": "confirm", "version": True}, "version"),
        ({"action": "confirm", "version": 1.5}, "version"),
        ({"action": "reject", "data": {"feedback": 5}}, "feedback"),
        ({"action": "confirm", "extra": 1}, "extra"),
    ],
)
def test_resolve__invalid_decisions_are_400_and_change_nothing(api, body, field):
    req = pending_of("data_export")
    response = post(api, f"/api/v1/requirements/{req.id}/resolve", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    req.refresh_from_db()
    assert req.status == "PENDING" and req.version == 1


@pytest.mark.parametrize("raw", ["", "{", "[]", '"confirm"', '{"action": "confirm", "version": NaN}'])
def test_resolve__malformed_bodies_are_400(api, raw):
    req = pending_of("data_export")
    response = post(api, f"/api/v1/requirements/{req.id}/resolve", raw=raw)
    assert response.status_code == 400
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_resolve__a_huge_body_is_413(api):
    req = pending_of("data_export")
    raw = json.dumps({"action": "reject", "data": {"feedback": "x" * 1_200_000}})
    assert post(api, f"/api/v1/requirements/{req.id}/resolve", raw=raw).status_code == 413


def test_resolve__already_resolved_is_409(api):
    req = pending_of("data_export")
    url = f"/api/v1/requirements/{req.id}/resolve"
    assert post(api, url, {"action": "confirm"}).status_code == 200
    response = post(api, url, {"action": "reject"})
    assert response.status_code == 409
    assert response.json()["code"] == "already_resolved"
    assert "already resolved by rita" in response.json()["error"]
    req.refresh_from_db()
    assert req.resolution == {"action": "confirm"}


def test_resolve__a_stale_version_is_409(api):
    req = pending_of("data_export")
    response = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm", "version": 7})
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_resolve__after_the_deadline_is_409_expired(api):
    req = pending_of("data_export")
    Requirement.objects.filter(id=req.id).update(timeout_at=timezone.now() - timedelta(seconds=1))
    response = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm"})
    assert response.status_code == 409
    assert response.json()["code"] == "expired"
    req.refresh_from_db()
    assert req.status == "EXPIRED"  # the timeout decided it
    again = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm"})
    assert again.status_code == 409
    assert again.json()["code"] == "expired"  # still "expired", not a generic conflict


def test_resolve__a_cancelled_runs_requirement_is_409(api, operator):
    req = pending_of("data_export")
    from workflows import services

    services.run_cancel(run_id=req.run_id, user=operator)
    response = post(api, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm"})
    assert response.status_code == 409
    assert response.json()["code"] == "already_cancelled"


def test_resolve__outside_the_assignment_is_404(api, assigned):
    response = post(api, f"/api/v1/requirements/{assigned.id}/resolve", {"action": "confirm"})
    assert response.status_code == 404
    assigned.refresh_from_db()
    assert assigned.status == "PENDING"


def test_resolve__an_auditor_who_may_see_but_not_resolve_gets_403(client, make_user):
    req = pending_of("data_export")
    client.force_login(make_user("aud", "view_requirement"))
    response = post(client, f"/api/v1/requirements/{req.id}/resolve", {"action": "confirm"})
    assert response.status_code == 403
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_resolve__the_assignee_may(client, assigned, django_user_model):
    client.force_login(django_user_model.objects.get(username="alice"))
    response = post(client, f"/api/v1/requirements/{assigned.id}/resolve", {"action": "confirm"})
    assert response.status_code == 200
    assert response.json()["resolved_by"] == "alice"


def test_resolve__unknown_and_non_uuid_are_404(api):
    assert post(api, f"/api/v1/requirements/{uuid.uuid4()}/resolve", {"action": "confirm"}).status_code == 404
    assert post(api, "/api/v1/requirements/abc/resolve", {"action": "confirm"}).status_code == 404


def test_resolve__route_selection_and_external_results(api):
    route = pending_of("research_router", "q")
    url = f"/api/v1/requirements/{route.id}/resolve"
    bad = post(api, url, {"action": "select", "data": {"choices": ["nowhere"]}})
    assert bad.status_code == 400 and "choices" in bad.json()["errors"]
    assert post(api, url, {"action": "select", "data": {"choices": ["quick", "deep"]}}).status_code == 200
    tool = pending_of("support_agent")
    url = f"/api/v1/requirements/{tool.id}/resolve"
    assert post(api, url, {"action": "provide_result", "data": {}}).json()["errors"] == {
        "result": "This field is required."
    }
    assert post(api, url, {"action": "provide_result", "data": {"result": "gold plan"}}).status_code == 200
