"""/workflows/ and /workflows/<name>/: the catalogue, a definition's steps and gates, the start form."""

from __future__ import annotations

import pytest

from workflows import registry
from workflows.models import Requirement, WorkflowRun
from workflows.web.views import definition_tree

pytestmark = pytest.mark.django_db


def test_catalogue__needs_login(client):
    assert client.get("/workflows/").status_code == 302
    assert client.get("/workflows/data_export/").status_code == 302


def test_catalogue__lists_every_registered_workflow(client, outsider):
    client.force_login(outsider)
    response = client.get("/workflows/")
    assert response.status_code == 200
    for workflow in registry.all_workflows():
        assert f'href="/workflows/{workflow.name}/"' in response.text
    assert "Export customer data after a reviewer confirms" in response.text


def test_workflow_page__describes_steps_and_gates(client, operator):
    client.force_login(operator)
    response = client.get("/workflows/data_export/")
    assert response.status_code == 200
    text = response.text
    assert "<h1>data_export</h1>" in text
    assert "fetch" in text and "export" in text
    assert "Confirmation: “Export customer records to the warehouse?”" in text
    assert "Timeout after 1 h, then cancel" in text
    assert "On reject: cancel" in text


def test_workflow_page__shows_nesting(client, operator):
    client.force_login(operator)
    text = client.get("/workflows/onboarding/").text
    text = text[text.index('id="steps-heading"') :]  # the text tree (the graph comes first)
    # Condition > If > Steps > Loop > allocate (gated), each level a nested list
    condition = text.index("is_enterprise")
    branch = text.index('<div class="wf-branch">If</div>')
    setup = text.index("<strong>setup</strong>")
    loop = text.index("<strong>provision</strong>")
    allocate = text.index("<strong>allocate</strong>")
    assert condition < branch < setup < loop < allocate
    assert "Confirmation: “Allocate resources?”" in text
    assert "up to 2 iterations" in text


def test_workflow_page__names_router_and_tool_gates(client, operator):
    client.force_login(operator)
    assert "Route selection (one or more)" in client.get("/workflows/research_router/").text
    text = client.get("/workflows/support_agent/").text
    assert "Tool send_email: confirmation" in text
    assert "Tool issue_credit: user input" in text
    assert "Tool lookup_contract: result provided by a person" in text
    assert "Output review" in text


def test_workflow_page__unknown_workflow_is_404(client, operator):
    client.force_login(operator)
    assert client.get("/workflows/no_such_flow/").status_code == 404
    assert client.post("/workflows/no_such_flow/", {"input": "x"}).status_code == 404


def test_start_form__has_labelled_fields_and_button(client, operator):
    client.force_login(operator)
    text = client.get("/workflows/data_export/").text
    assert '<label for="id_input">Input</label>' in text
    assert '<label for="id_additional_data">Additional data</label>' in text
    assert '<button type="submit" class="button button--primary">Start run</button>' in text


def test_start_form__hidden_and_refused_without_permission(client, reviewer):
    client.force_login(reviewer)
    text = client.get("/workflows/data_export/").text
    assert "Start run</button>" not in text
    assert "You may not start runs" in text
    assert client.post("/workflows/data_export/", {"input": "x"}).status_code == 403
    assert not WorkflowRun.objects.exists()


def test_start__creates_the_run_schedules_it_and_redirects(client, operator, django_capture_on_commit_callbacks):
    client.force_login(operator)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/workflows/data_export/", {"input": "warehouse", "additional_data": ""})
    run = WorkflowRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.id}/"
    assert run.workflow_name == "data_export"
    assert run.status == WorkflowRun.Status.PENDING
    assert run.input == "warehouse"
    assert run.created_by == operator
    assert callbacks, "the run's execution is scheduled after commit"


def test_start__runs_in_the_background_until_the_pause(
    client, operator, sync_worker, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/workflows/data_export/", {"input": '"crm"', "additional_data": '{"priority": 1}'})
    run = WorkflowRun.objects.get()
    assert run.status == WorkflowRun.Status.PAUSED
    assert run.additional_data == {"priority": 1}
    assert run.requirements.get().status == Requirement.Status.PENDING
    page = client.get(response["Location"])
    assert "Paused" in page.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ('{"customers": [1, 2]}', {"customers": [1, 2]}),
        ("42", 42),
        ("1, 2", "1, 2"),  # not JSON, and does not look like it: kept as text
        ("NaN", "NaN"),  # not strict JSON: kept as text
        ("", None),
    ],
)
def test_start__input_is_json_when_it_parses(client, operator, text, expected):
    client.force_login(operator)
    response = client.post("/workflows/data_export/", {"input": text})
    assert response.status_code == 302
    assert WorkflowRun.objects.get().input == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Not valid JSON"),
        ("[1, 2]", "Must be a JSON object"),
        ('"text"', "Must be a JSON object"),
    ],
)
def test_start__additional_data_must_be_a_json_object(client, operator, text, message):
    client.force_login(operator)
    response = client.post("/workflows/data_export/", {"input": "x", "additional_data": text})
    assert response.status_code == 400
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize("text", ["[1, 2", '{"customers": [1, 2]', '"unterminated', '  {"a": NaN}', "[" * 100_000])
def test_start__input_that_looks_like_broken_json_is_refused(client, operator, text):
    client.force_login(operator)
    response = client.post("/workflows/data_export/", {"input": text})
    assert response.status_code == 400
    assert "This looks like JSON but does not parse" in response.text
    assert 'id="id_input-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert not WorkflowRun.objects.exists()


def test_start__needs_the_csrf_token(operator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post("/workflows/data_export/", {"input": "x"}).status_code == 403
    assert not WorkflowRun.objects.exists()


def test_definition_tree__nests_by_path():
    tree = definition_tree(registry.get("release_checks").describe())
    assert [node["name"] for node in tree] == ["checks", "ship"]
    parallel = tree[0]
    assert parallel["groups"][0]["label"] == "In parallel"
    branches = parallel["groups"][0]["children"]
    assert [b["name"] for b in branches] == ["tests", "security", "legal"]
    assert branches[1]["gates"] == ["Confirmation: “Security sign-off?”"]
    assert branches[0]["gates"] == []


def test_definition_tree__orders_if_before_else():
    tree = definition_tree(registry.get("refund_decision").describe())
    labels = [group["label"] for group in tree[0]["groups"]]
    assert labels == ["If", "Else"]


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("input", '"a\\ud800"', "surrogate"),
        ("input", "a\x00b", "Null characters"),
        ("input", '{"a": "\\u0000"}', "Null characters"),
        ("input", "[1e400]", "finite"),
        ("input", "[" * 65 + "]" * 65, "Nested too deeply"),
        ("additional_data", '{"a": 1e400}', "finite"),
        ("additional_data", '{"a": "\\udfff"}', "surrogate"),
        ("additional_data", '{"a": {"b": "\\u0000"}}', "Null characters"),
        ("additional_data", '{"a": NaN}', "Not valid JSON"),
    ],
)
def test_start__values_no_run_may_hold_are_refused(client, operator, field, text, message):
    client.force_login(operator)
    response = client.post("/workflows/data_export/", {"input": "x", field: text})
    assert response.status_code == 400
    assert message in response.text
    assert not WorkflowRun.objects.exists()


def test_start__the_same_form_sent_twice_starts_one_run(client, operator, make_user):
    """A double click on "Start run" (or a resent form) lands both times on the one run."""
    import re

    client.force_login(operator)
    page = client.get("/workflows/data_export/").content.decode()
    [key] = re.findall(r'<input type="hidden" name="start_key" value="([0-9a-f]{32})"', page)
    first = client.post("/workflows/data_export/", {"input": "once", "start_key": key})
    second = client.post("/workflows/data_export/", {"input": "once", "start_key": key})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert WorkflowRun.objects.filter(workflow_name="data_export").count() == 1
    # Another form (a new key) starts another run; someone else's copy of a key is theirs alone.
    client.post("/workflows/data_export/", {"input": "again", "start_key": "f" * 32})
    assert WorkflowRun.objects.count() == 2
    other = make_user("petra", "start_run")
    client.force_login(other)
    client.post("/workflows/data_export/", {"input": "once", "start_key": key})
    assert WorkflowRun.objects.count() == 3
    assert client.post("/workflows/data_export/", {"input": "x", "start_key": "<script>"}).status_code == 400
