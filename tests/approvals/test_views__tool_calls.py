"""Tool-call pages: the agent's conversation so far and the call's arguments; a reviewer may edit
the arguments before confirming (checked against the tool's parameters, audited with a diff)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from approvals.models import Decision
from tests.factories import UserFactory
from workflows import services
from workflows.models import Requirement, StepRun

from .conftest import pending

pytestmark = pytest.mark.django_db


def tool_calls(sent_runs):
    """support_agent after its external contract lookup was answered: a tool confirmation and a
    tool input wait."""
    req = pending("support_agent")
    admin = UserFactory(username="setup-admin", superuser=True)
    services.requirement_resolve(
        requirement_id=req.id, user=admin, action="provide_result", data={"result": "contract 42"}
    )
    services.run_advance(run_id=req.run_id)
    rows = Requirement.objects.filter(run_id=req.run_id, status="PENDING")
    return {row.kind: row for row in rows}


def test_the_page_shows_the_conversation_and_arguments(reviewer_client, sent_runs):
    confirm = tool_calls(sent_runs)["executor_confirmation"]
    assert confirm.payload["parameters"] == [
        {"name": "to", "field_type": "str", "required": True},
        {"name": "subject", "field_type": "str", "required": True},
    ]
    page = reviewer_client.get(reverse("approvals:decide", args=[confirm.id])).content.decode()
    assert "The agent's conversation so far" in page
    assert "Called <code>lookup_contract</code>" in page and "contract 42" in page
    assert "ops@acme.test" in page  # the call's own arguments
    assert '<label for="field-args">Arguments</label>' in page
    assert "to (text); subject (text)" in page


def test_confirming_with_edited_arguments_runs_the_tool_with_them(reviewer_client, reviewer, sent_runs):
    reqs = tool_calls(sent_runs)
    confirm, credit = reqs["executor_confirmation"], reqs["executor_user_input"]
    args = {"to": "billing@acme.test", "subject": "Your ticket"}
    response = reviewer_client.post(
        reverse("approvals:decide", args=[confirm.id]),
        {"action": "edit", "version": confirm.version, "args": json.dumps(args)},
    )
    assert response.status_code == 302
    confirm.refresh_from_db()
    assert confirm.resolution == {"action": "edit", "args": args}
    diff = Decision.objects.get(requirement=confirm).diff
    assert '-  "to": "ops@acme.test"' in diff and '+  "to": "billing@acme.test"' in diff
    services.requirement_resolve(
        requirement_id=credit.id, user=reviewer, action="submit", data={"values": {"amount": 5}}
    )
    services.run_advance(run_id=confirm.run_id)
    review = Requirement.objects.get(run_id=confirm.run_id, status="PENDING")
    assert "send_email: email to billing@acme.test: Your ticket" in review.payload["output"]
    page = reviewer_client.get(reverse("approvals:decide", args=[confirm.id])).content.decode()
    assert "billing@acme.test" in page and "Changes made" in page


@pytest.mark.parametrize(
    "args, message",
    [
        ('{"to": "x@y.test"}', "subject: required"),
        ('{"to": "x@y.test", "subject": "s", "cc": "z"}', "cc: unknown argument"),
        ('{"to": 3, "subject": "s"}', "to: Enter text."),
        ("[1, 2]", "Expected an object of argument values."),
        ("{not json", "Enter valid JSON"),
    ],
)
def test_invalid_arguments_are_refused_next_to_the_field(reviewer_client, sent_runs, args, message):
    confirm = tool_calls(sent_runs)["executor_confirmation"]
    response = reviewer_client.post(
        reverse("approvals:decide", args=[confirm.id]), {"action": "edit", "version": confirm.version, "args": args}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="args-error"' in page and message in page
    assert '<details class="edit-args" open>' in page
    assert 'href="#field-args"' in page  # the error summary links to the field
    confirm.refresh_from_db()
    assert confirm.status == "PENDING"


def test_the_api_takes_edited_arguments_too(reviewer_client, sent_runs):
    confirm = tool_calls(sent_runs)["executor_confirmation"]
    url = f"/api/v1/requirements/{confirm.id}/resolve"
    bad = reviewer_client.post(url, {"action": "edit", "data": {"args": {"to": 1}}}, content_type="application/json")
    assert bad.status_code == 400 and "subject: required" in bad.json()["errors"]["args"]
    ok = reviewer_client.post(
        url, {"action": "edit", "data": {"args": {"to": "a@b.test", "subject": "s"}}}, content_type="application/json"
    )
    assert ok.status_code == 200


def test_previous_steps_on_a_tool_call_page_are_the_steps_before_it(reviewer_client, sent_runs):
    confirm = tool_calls(sent_runs)["executor_confirmation"]
    page = reviewer_client.get(reverse("approvals:decide", args=[confirm.id])).content.decode()
    assert StepRun.objects.filter(run_id=confirm.run_id).count() == 0  # the agent step is still running
    assert "This is the first step." in page


def test_previous_steps_list_the_steps_done_before_the_agent(reviewer_client, sent_runs, temp_workflow):
    from workflows.engine import ScriptedAgent, Step, ToolCall, Workflow, tool

    @tool(requires_confirmation=True)
    def refund(order: str) -> str:
        return f"refunded {order}"

    wf = temp_workflow(
        Workflow(
            name="refund_agent",
            steps=[
                Step(name="load_order", executor=lambda si: "order 7 loaded"),
                Step(
                    name="decide_refund",
                    agent=ScriptedAgent(name="bot", tools=[refund], script=[ToolCall("refund", {"order": "7"}), "ok"]),
                ),
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id, status="PENDING")
    page = reviewer_client.get(reverse("approvals:decide", args=[req.id])).content.decode()
    steps = page.split('id="steps-title"')[1].split("</section>")[0]
    assert "load_order" in steps and "order 7 loaded" in steps
    assert "decide_refund" not in steps  # the agent's own step is still running
