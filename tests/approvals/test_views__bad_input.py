"""The decision forms refuse bad input with a message next to the field, and decide nothing:
NUL characters (PostgreSQL cannot store them), JSON with numbers that overflow to infinity,
NaN/Infinity, lone surrogates or nesting past the limit, also in the edit page's live diff."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import Decision
from workflows.engine import HumanReview, Step, UserInputField, Workflow
from workflows.models import Requirement

from .conftest import pending

pytestmark = pytest.mark.django_db

DEEP = "[" * 50_000 + "]" * 50_000
BAD_JSON = {
    "overflow": ("1e400", "finite"),
    "nan": ("[NaN]", "Enter valid JSON"),
    "infinity": ('{"a": -Infinity}', "Enter valid JSON"),
    "lone_surrogate": ('["\\ud800"]', "surrogate"),
    "nul": ('{"a": "\\u0000"}', "Null characters"),
    "too_deep": ("[" * 65 + "]" * 65, "Nested too deeply"),
    "deeper_than_the_parser": (DEEP, "Nested too deeply"),
}


def decide(client, req, **data):
    data.setdefault("version", req.version)
    return client.post(reverse("approvals:decide", args=[req.id]), data)


def assert_unchanged(req):
    after = Requirement.objects.get(id=req.id)
    assert (after.status, after.version, after.resolution) == ("PENDING", req.version, None)
    assert not Decision.objects.filter(requirement_id=req.id).exists()


@pytest.mark.parametrize("workflow", ["data_export", "trip_planner", "blog_post", "research_router", "copy_refiner"])
def test_feedback_with_a_nul_character_is_refused(reviewer_client, workflow):
    req = pending(workflow)
    response = decide(reviewer_client, req, action="reject", feedback="no\x00pe")
    assert response.status_code == 400
    assert "Null characters" in response.text
    assert_unchanged(req)


def test_a_tool_result_with_a_nul_character_is_refused(reviewer_client):
    req = pending("support_agent")
    response = decide(reviewer_client, req, action="provide_result", result="a\x00b")
    assert response.status_code == 400 and "Null characters" in response.text
    assert_unchanged(req)


def test_text_input_with_a_nul_character_is_refused(reviewer_client):
    req = pending("trip_planner")
    response = decide(reviewer_client, req, action="submit", **{"value-city": "Ro\x00me", "value-days": "2"})
    assert response.status_code == 400 and "Null characters" in response.text
    assert_unchanged(req)


@pytest.mark.parametrize(("text", "message"), BAD_JSON.values(), ids=BAD_JSON.keys())
def test_an_edited_json_output_with_bad_values_is_refused(reviewer_client, temp_workflow, text, message):
    wf = temp_workflow(
        Workflow(
            name="json_review",
            steps=[
                Step(
                    name="draft",
                    executor=lambda si: {"title": "t"},
                    human_review=HumanReview(requires_output_review=True),
                )
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    response = decide(reviewer_client, req, action="edit", output=text, confirmed="live")
    assert response.status_code == 400
    assert message in response.text
    assert_unchanged(req)
    # The live diff beside the textarea (htmx) shows nothing for it, and no 500.
    diff = decide(reviewer_client, req, action="edit", output=text, diff_only="1", HTTP_HX_REQUEST="true")
    assert diff.status_code == 200
    assert_unchanged(req)


@pytest.mark.parametrize(("text", "message"), BAD_JSON.values(), ids=BAD_JSON.keys())
def test_json_fields_of_a_form_with_bad_values_are_refused(reviewer_client, temp_workflow, text, message):
    wf = temp_workflow(
        Workflow(
            name="json_fields",
            steps=[
                Step(
                    name="collect",
                    executor=lambda si: "ok",
                    human_review=HumanReview(
                        requires_user_input=True,
                        user_input_schema=[UserInputField(name="tags", field_type="list", required=False)],
                    ),
                )
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    response = decide(reviewer_client, req, action="submit", **{"value-tags": text})
    assert response.status_code == 400
    assert message in response.text
    assert_unchanged(req)


def test_inbox_filters_with_a_nul_character_still_render(reviewer_client):
    req = pending("data_export")
    response = reviewer_client.get(reverse("approvals:inbox"), {"workflow": "data_\x00export", "q": "exp\x00"})
    assert response.status_code == 200
    assert str(req.id) in response.text  # the NUL is dropped: "data_export", "exp"
