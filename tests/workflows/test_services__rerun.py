"""run_rerun, POST /api/v1/runs/<id>/rerun and the run page's "Rerun" button."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from workflows import services
from workflows.engine.errors import RunStateError
from workflows.models import RunEvent, WorkflowRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_run(operator) -> WorkflowRun:
    run = services.run_start(
        workflow_name="data_export", input={"source": "crm"}, additional_data={"priority": "high"}, user=operator
    )
    WorkflowRun.objects.filter(id=run.id).update(status=WorkflowRun.Status.COMPLETED)
    run.refresh_from_db()
    return run


def post_json(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


# -- service --------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["COMPLETED", "ERROR", "CANCELLED"])
def test_rerun__same_input_and_data_linked_to_the_original(
    finished_run, operator, status, django_capture_on_commit_callbacks
):
    WorkflowRun.objects.filter(id=finished_run.id).update(status=status)
    with django_capture_on_commit_callbacks() as callbacks:
        new = services.run_rerun(run_id=finished_run.id, user=operator)
    new.refresh_from_db()
    assert new.id != finished_run.id
    assert new.status == WorkflowRun.Status.PENDING
    assert new.rerun_of_id == finished_run.id
    assert (new.workflow_name, new.input, new.additional_data) == (
        "data_export",
        {"source": "crm"},
        {"priority": "high"},
    )
    assert new.created_by == operator
    assert RunEvent.objects.filter(run=new, event="RerunOf", data={"run_id": str(finished_run.id)}).exists()
    assert callbacks, "the new run is sent to a worker after commit"
    assert list(finished_run.reruns.all()) == [new]


def test_rerun__with_edited_input_and_data(finished_run, operator):
    new = services.run_rerun(run_id=finished_run.id, user=operator, input="other", additional_data=None)
    new.refresh_from_db()
    assert new.input == "other"
    assert new.additional_data in ({}, None)


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "PAUSED"])
def test_rerun__an_active_run_is_refused(finished_run, operator, status):
    WorkflowRun.objects.filter(id=finished_run.id).update(status=status)
    with pytest.raises(RunStateError):
        services.run_rerun(run_id=finished_run.id, user=operator)
    assert WorkflowRun.objects.count() == 1


def test_rerun__runs_through_to_the_same_pause(finished_run, operator, sync_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new = services.run_rerun(run_id=finished_run.id, user=operator)
    new.refresh_from_db()
    assert new.status == WorkflowRun.Status.PAUSED
    assert new.requirements.get().step_name == "export"


# -- API ------------------------------------------------------------------------------------------
def test_api_rerun__201_with_rerun_of(client, operator, finished_run):
    client.force_login(operator)
    response = post_json(client, f"/api/v1/runs/{finished_run.id}/rerun")
    assert response.status_code == 201
    body = response.json()
    assert body["rerun_of"] == str(finished_run.id)
    assert body["input"] == {"source": "crm"} and body["additional_data"] == {"priority": "high"}
    assert response["Location"] == f"/api/v1/runs/{body['id']}"
    assert client.get(f"/api/v1/runs/{body['id']}").json()["rerun_of"] == str(finished_run.id)


def test_api_rerun__edits(client, operator, finished_run):
    client.force_login(operator)
    body = post_json(
        client, f"/api/v1/runs/{finished_run.id}/rerun", {"input": [1, 2], "additional_data": {"b": 2}}
    ).json()
    assert body["input"] == [1, 2] and body["additional_data"] == {"b": 2}


@pytest.mark.parametrize(
    ("body", "field"), [({"additional_data": [1]}, "additional_data"), ({"workflow": "blog_post"}, "workflow")]
)
def test_api_rerun__bad_bodies_are_400(client, operator, finished_run, body, field):
    client.force_login(operator)
    response = post_json(client, f"/api/v1/runs/{finished_run.id}/rerun", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert WorkflowRun.objects.count() == 1


def test_api_rerun__active_run_is_409(client, operator, paused_run):
    client.force_login(operator)
    response = post_json(client, f"/api/v1/runs/{paused_run.id}/rerun")
    assert response.status_code == 409
    assert response.json()["code"] == "not_finished"
    assert WorkflowRun.objects.count() == 1


def test_api_rerun__unregistered_workflow_is_409(client, operator, finished_run):
    WorkflowRun.objects.filter(id=finished_run.id).update(workflow_name="gone_flow")
    client.force_login(operator)
    response = post_json(client, f"/api/v1/runs/{finished_run.id}/rerun")
    assert response.status_code == 409
    assert response.json()["code"] == "not_registered"


def test_api_rerun__permissions(client, make_user, outsider, finished_run):
    watcher = make_user("wes", "view_workflowrun")
    client.force_login(watcher)
    assert post_json(client, f"/api/v1/runs/{finished_run.id}/rerun").status_code == 403
    client.force_login(outsider)  # may not see the run: it does not exist for them
    assert post_json(client, f"/api/v1/runs/{finished_run.id}/rerun").status_code == 404
    assert WorkflowRun.objects.count() == 1


# -- page -----------------------------------------------------------------------------------------
def test_page__rerun_button_for_starters_of_finished_runs_only(client, operator, make_user, finished_run, paused_run):
    client.force_login(operator)
    text = client.get(f"/runs/{finished_run.id}/").text
    assert ">Rerun</button>" in text
    assert f'action="/runs/{finished_run.id}/rerun/"' in text
    assert "Edit the input before running again" in text
    assert ">Rerun</button>" not in client.get(f"/runs/{paused_run.id}/").text
    client.force_login(make_user("wes", "view_workflowrun"))
    assert ">Rerun</button>" not in client.get(f"/runs/{finished_run.id}/").text


def test_page__rerun_unchanged_keeps_values_and_links_both_ways(client, operator, finished_run):
    client.force_login(operator)
    page = client.get(f"/runs/{finished_run.id}/")
    form = page.context["rerun_form"]
    data = {f"rerun-{name}": form.initial[name] for name in ("input", "additional_data")}
    response = client.post(f"/runs/{finished_run.id}/rerun/", data)
    new = WorkflowRun.objects.exclude(id=finished_run.id).get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{new.id}/"
    assert new.rerun_of_id == finished_run.id
    assert (new.input, new.additional_data) == (finished_run.input, finished_run.additional_data)
    new_page = client.get(f"/runs/{new.id}/").text
    assert "Rerun of" in new_page and f'href="/runs/{finished_run.id}/"' in new_page
    assert f'href="/runs/{new.id}/"' in client.get(f"/runs/{finished_run.id}/").text


def test_page__rerun_text_input_that_looks_like_a_number_stays_text(client, operator):
    run = services.run_start(workflow_name="data_export", input="42", user=operator)
    WorkflowRun.objects.filter(id=run.id).update(status="COMPLETED")
    client.force_login(operator)
    client.post(f"/runs/{run.id}/rerun/", {"rerun-input": "42", "rerun-additional_data": ""})
    assert WorkflowRun.objects.exclude(id=run.id).get().input == "42"


def test_page__rerun_with_edited_input(client, operator, finished_run):
    client.force_login(operator)
    client.post(f"/runs/{finished_run.id}/rerun/", {"rerun-input": '{"source": "erp"}', "rerun-additional_data": ""})
    new = WorkflowRun.objects.exclude(id=finished_run.id).get()
    assert new.input == {"source": "erp"} and new.additional_data in ({}, None)


def test_page__rerun_broken_json_is_400_and_starts_nothing(client, operator, finished_run):
    client.force_login(operator)
    response = client.post(
        f"/runs/{finished_run.id}/rerun/", {"rerun-input": '{"source": ', "rerun-additional_data": ""}
    )
    assert response.status_code == 400
    assert "This looks like JSON but does not parse" in response.text
    assert WorkflowRun.objects.count() == 1


def test_page__rerun_refused_without_permission_or_csrf(client, make_user, operator, finished_run, paused_run):
    client.force_login(make_user("wes", "view_workflowrun"))
    assert client.post(f"/runs/{finished_run.id}/rerun/", {}).status_code == 403
    client.force_login(operator)
    assert client.post(f"/runs/{paused_run.id}/rerun/", {}).status_code == 409
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    assert strict.post(f"/runs/{finished_run.id}/rerun/", {}).status_code == 403
    assert WorkflowRun.objects.count() == 2


# -- run list export ------------------------------------------------------------------------------
def test_run_list__export_links_keep_the_filters(client, operator, finished_run):
    client.force_login(operator)
    text = client.get("/runs/?workflow=data_export&status=COMPLETED&page=1").text
    assert 'href="/runs/export.csv?workflow=data_export&amp;status=COMPLETED' in text
    response = client.get("/runs/export.csv?workflow=data_export&status=COMPLETED")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert str(finished_run.id) in b"".join(response.streaming_content).decode()
    response = client.get("/runs/export.json?status=ERROR")
    assert json.loads(b"".join(response.streaming_content)) == []
    assert client.get("/runs/export.xml").status_code == 404
    assert 'href="/api/v1/decisions/export?format=csv&amp;workflow=data_export"' in text
