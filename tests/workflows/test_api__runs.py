"""POST /api/v1/runs, GET /api/v1/runs/<id>, POST /api/v1/runs/<id>/cancel."""

from __future__ import annotations

import json
import uuid

import pytest

from workflows import registry, services
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


def post(client, url, body=None, *, raw: bytes | str | None = None, **kwargs):
    data = raw if raw is not None else json.dumps(body if body is not None else {})
    return client.post(url, data, content_type="application/json", **kwargs)


@pytest.fixture
def api(client, operator):
    client.force_login(operator)
    return client


# -- start ----------------------------------------------------------------------------------------
def test_start__201_with_the_run_and_its_execution_scheduled(api, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api, "/api/v1/runs", {"workflow": "data_export", "input": {"source": "crm"}})
    assert response.status_code == 201
    body = response.json()
    run = WorkflowRun.objects.get()
    assert body["id"] == str(run.id)
    assert response["Location"] == f"/api/v1/runs/{run.id}"
    assert body["workflow"] == "data_export"
    assert body["status"] == "PENDING"
    assert body["pause_kind"] is None
    assert body["requirements"] == [] and body["step_results"] == []
    assert body["input"] == {"source": "crm"}
    assert body["created_by"] == "olga"
    assert body["links"] == {"self": f"/api/v1/runs/{run.id}", "page": f"/runs/{run.id}/"}
    assert run.created_by == operator
    assert callbacks, "execution is scheduled after commit"


def test_start__then_the_run_pauses_with_its_requirement(api, sync_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = {"workflow": "data_export", "input": "crm", "additional_data": {"a": 1}}
        run_id = post(api, "/api/v1/runs", body).json()["id"]
    body = api.get(f"/api/v1/runs/{run_id}").json()
    assert body["status"] == "PAUSED"
    assert body["pause_kind"] == "step"
    assert body["additional_data"] == {"a": 1}
    [req] = body["requirements"]
    assert req["kind"] == "confirmation"
    assert req["step_name"] == "export"
    assert req["message"] == "Export customer records to the warehouse?"
    assert req["version"] == 1
    assert req["status"] == "PENDING"
    assert req["path"] == "1"
    assert req["timeout_at"] is not None
    assert req["actions"] == ["confirm", "reject"]
    assert body["step_results"] == [
        {"step_name": "fetch", "content": {"customers": 3, "source": "crm"}, "success": True}
    ]


def test_start__needs_the_start_permission(client, reviewer):
    client.force_login(reviewer)
    response = post(client, "/api/v1/runs", {"workflow": "data_export"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "workflow"),
        ({"workflow": ""}, "workflow"),
        ({"workflow": 42}, "workflow"),
        ({"workflow": ["data_export"]}, "workflow"),
        ({"workflow": "no_such_flow"}, "workflow"),
        ({"workflow": "data_export", "additional_data": [1]}, "additional_data"),
        ({"workflow": "data_export", "additional_data": "x"}, "additional_data"),
        ({"workflow": "data_export", "inputs": "typo"}, "inputs"),
    ],
)
def test_start__invalid_fields_are_400_per_field(api, body, field):
    response = post(api, "/api/v1/runs", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2, 3]",
        '"a string"',
        "null",
        '{"workflow": NaN}',
        '{"workflow": "data_export", "input": Infinity}',
        "[" * 50_000 + "]" * 50_000,
        b"\xff\xfe{}",
    ],
)
def test_start__malformed_bodies_are_400(api, raw):
    response = post(api, "/api/v1/runs", raw=raw)
    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    assert not WorkflowRun.objects.exists()


def test_start__a_body_over_1_mb_is_413(api):
    big = json.dumps({"workflow": "data_export", "input": "x" * 1_100_000})
    response = post(api, "/api/v1/runs", raw=big)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    huge = json.dumps({"workflow": "data_export", "input": "x" * 3_000_000})  # over Django's own limit too
    assert post(api, "/api/v1/runs", raw=huge).status_code == 413
    assert not WorkflowRun.objects.exists()


def test_start__any_json_input_is_kept(api):
    for value in (None, 0, "text", [1, "two"], {"nested": {"deep": [True, None]}}):
        body = post(api, "/api/v1/runs", {"workflow": "data_export", "input": value}).json()
        assert body["input"] == value


# -- read -----------------------------------------------------------------------------------------
def test_get__unknown_non_uuid_and_invisible_runs_are_404(client, operator, outsider, paused_run):
    client.force_login(outsider)
    assert client.get(f"/api/v1/runs/{paused_run.id}").status_code == 404
    assert client.get(f"/api/v1/runs/{uuid.uuid4()}").status_code == 404
    for bad in ("not-a-uuid", "1", "%00", "' OR 1=1 --"):
        response = client.get(f"/api/v1/runs/{bad}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_get__a_user_sees_their_own_run(client, outsider):
    out = registry.get("blog_post").run("launch", user=outsider)
    client.force_login(outsider)
    body = client.get(f"/api/v1/runs/{out.run_id}").json()
    assert body["status"] == "PAUSED"
    assert body["requirements"] == []  # paused for a review this user may not see


def test_get__lists_only_requirements_the_caller_may_see(client, make_user, paused_run):
    watcher = make_user("wes", "view_workflowrun")
    client.force_login(watcher)
    assert client.get(f"/api/v1/runs/{paused_run.id}").json()["requirements"] == []
    resolver = make_user("ria", "view_workflowrun", "resolve_requirement")
    client.force_login(resolver)
    assert len(client.get(f"/api/v1/runs/{paused_run.id}").json()["requirements"]) == 1


def test_get__a_completed_run_has_step_results_and_content(api, operator, reviewer, paused_run):
    req = paused_run.requirements.get()
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm")
    services.run_advance(run_id=paused_run.id)
    body = api.get(f"/api/v1/runs/{paused_run.id}").json()
    assert body["status"] == "COMPLETED"
    assert body["requirements"] == []  # only active ones
    assert [s["step_name"] for s in body["step_results"]] == ["fetch", "export"]
    assert body["content"] == "exported 3 customers"
    assert body["finished_at"] is not None


def test_get__a_run_of_an_unregistered_workflow_still_reads(api, paused_run):
    WorkflowRun.objects.filter(id=paused_run.id).update(workflow_name="gone_flow")
    body = api.get(f"/api/v1/runs/{paused_run.id}").json()
    assert body["workflow"] == "gone_flow"
    assert body["step_results"] == []


# -- cancel ---------------------------------------------------------------------------------------
def test_cancel__200_with_the_cancelled_run(api, paused_run):
    response = post(api, f"/api/v1/runs/{paused_run.id}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CANCELLED"
    assert body["requirements"] == []
    assert paused_run.requirements.get().status == Requirement.Status.CANCELLED


def test_cancel__twice_is_409(api, paused_run):
    assert post(api, f"/api/v1/runs/{paused_run.id}/cancel").status_code == 200
    response = post(api, f"/api/v1/runs/{paused_run.id}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "not_active"
    assert "cancelled" in response.json()["error"]


def test_cancel__needs_the_permission(client, make_user, paused_run):
    client.force_login(make_user("vera", "view_workflowrun"))
    response = post(client, f"/api/v1/runs/{paused_run.id}/cancel")
    assert response.status_code == 403
    paused_run.refresh_from_db()
    assert paused_run.status == "PAUSED"


def test_cancel__invisible_or_unknown_is_404(client, make_user, paused_run):
    client.force_login(make_user("cory", "cancel_run"))  # sees only their own runs
    assert post(client, f"/api/v1/runs/{paused_run.id}/cancel").status_code == 404
    assert post(client, f"/api/v1/runs/{uuid.uuid4()}/cancel").status_code == 404
    assert post(client, "/api/v1/runs/zzz/cancel").status_code == 404


def test_cancel__a_malformed_body_is_400(api, paused_run):
    assert post(api, f"/api/v1/runs/{paused_run.id}/cancel", raw="{oops").status_code == 400
    paused_run.refresh_from_db()
    assert paused_run.status == "PAUSED"


def test_cancel__keeps_an_optional_reason(api, paused_run):
    response = post(api, f"/api/v1/runs/{paused_run.id}/cancel", {"reason": "duplicate request"})
    assert response.status_code == 200
    assert response.json()["cancel_reason"] == "duplicate request"
    event = paused_run.events.get(event="WorkflowCancelled")
    assert event.data["cancel_reason"] == "duplicate request"


@pytest.mark.parametrize("body", [{"reason": 3}, {"reason": "x" * 1001}, {"why": "x"}])
def test_cancel__a_bad_reason_is_400_and_cancels_nothing(api, paused_run, body):
    response = post(api, f"/api/v1/runs/{paused_run.id}/cancel", body)
    assert response.status_code == 400
    paused_run.refresh_from_db()
    assert paused_run.status == "PAUSED"
