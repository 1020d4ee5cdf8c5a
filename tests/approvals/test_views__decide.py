"""The decision page of every kind: what it shows, what each button does, and every error path."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision
from tests.factories import UserFactory
from workflows import services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

from .conftest import pending

pytestmark = pytest.mark.django_db


def url(req) -> str:
    return reverse("approvals:decide", args=[req.id])


def post(client, req, **data):
    data.setdefault("version", req.version)
    return client.post(url(req), data)


def executor_batch():
    """support_agent after its external call was answered: a tool confirmation and a tool input."""
    req = pending("support_agent")
    admin = UserFactory(username="setup-admin", superuser=True)
    services.requirement_resolve(requirement_id=req.id, user=admin, action="provide_result", data={"result": "ok"})
    services.run_advance(run_id=req.run_id)
    rows = Requirement.objects.filter(run_id=req.run_id, status="PENDING")
    return {row.kind: row for row in rows}


# -- access --------------------------------------------------------------------------------------
def test_login_required(client, sent_runs):
    req = pending("data_export")
    response = client.get(url(req))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_unknown_requirement_is_404(reviewer_client):
    response = reviewer_client.get("/inbox/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert b"Not found" in response.content


def test_requirement_without_permission_is_404(client, outsider, sent_runs):
    req = pending("data_export")
    client.force_login(outsider)
    assert client.get(url(req)).status_code == 404
    assert post(client, req, action="confirm").status_code == 404
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_requirement_assigned_to_another_group_is_404(reviewer_client, reviewer, finance_group):
    wf = Workflow(
        name="finance_only",
        steps=[
            Step(
                name="pay",
                executor=lambda si: "paid",
                human_review=HumanReview(requires_confirmation=True, groups=["finance"]),
            )
        ],
    )
    out = wf.run("x")
    req = Requirement.objects.get(run_id=out.run_id)
    assert req.is_assigned
    assert reviewer_client.get(url(req)).status_code == 404
    assert post(reviewer_client, req, action="confirm").status_code == 404
    req.refresh_from_db()
    assert req.status == "PENDING"
    # Joining the group gives access, permission or not.
    reviewer.groups.add(finance_group)
    assert reviewer_client.get(url(req)).status_code == 200


def test_get_and_post_only(reviewer_client):
    req = pending("data_export")
    assert reviewer_client.put(url(req)).status_code == 405


# -- every kind --------------------------------------------------------------------------------
def test_confirmation_page_and_confirm(reviewer_client, reviewer, django_capture_on_commit_callbacks, sent_runs):
    req = pending("data_export", "crm")
    page = reviewer_client.get(url(req)).content.decode()
    assert "Export customer records to the warehouse?" in page
    assert ">Confirm</button>" in page and ">Reject</button>" in page
    assert 'for="field-feedback">Feedback</label>' in page
    assert "fetch" in page and "&quot;customers&quot;: 3" in page  # previous step output, escaped JSON
    assert "data-countdown" in page  # the gate has a timeout
    with django_capture_on_commit_callbacks(execute=True):
        response = post(reviewer_client, req, action="confirm")
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == "RESOLVED" and req.resolution == {"action": "confirm"}
    assert req.resolved_by_name == "rita"
    assert sent_runs == [str(req.run_id)]


def test_confirmation_reject_with_feedback(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(reviewer_client, req, action="reject", feedback="Not this week\r\nsorry")
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "reject", "feedback": "Not this week\nsorry"}


def test_condition_confirmation_explains_branches(reviewer_client):
    req = pending("refund_decision")
    page = reviewer_client.get(url(req)).content.decode()
    assert "issue_refund" in page and "offer_voucher" in page


def test_user_input_page_has_one_labelled_field_per_schema_field(reviewer_client):
    req = pending("trip_planner")
    page = reviewer_client.get(url(req)).content.decode()
    assert '<label for="field-city">city</label>' in page
    assert 'type="text" id="field-city"' in page
    assert '<label for="field-days">days</label>' in page
    assert 'type="number" id="field-days"' in page
    assert 'type="checkbox" id="field-budget"' in page
    assert '<select id="field-pace"' in page and '<option value="slow"' in page
    assert ">Submit</button>" in page


def test_user_input_submit_converts_types(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("trip_planner")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            reviewer_client,
            req,
            action="submit",
            **{"value-city": " Lisbon ", "value-days": "4", "value-budget": "true", "value-pace": "slow"},
        )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {
        "action": "submit",
        "values": {"city": "Lisbon", "days": 4, "budget": True, "pace": "slow"},
    }


def test_user_input_unchecked_bool_is_false(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("trip_planner")
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, req, action="submit", **{"value-city": "Oslo", "value-days": "2"})
    req.refresh_from_db()
    assert req.resolution["values"] == {"city": "Oslo", "days": 2, "budget": False}


def test_user_input_errors_show_next_to_fields(reviewer_client):
    req = pending("trip_planner")
    response = post(
        reviewer_client, req, action="submit", **{"value-city": "", "value-days": "four", "value-pace": "sprint"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="field-days-error">Enter a whole number.</p>' in page
    assert 'value="four"' in page  # what was typed is kept
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_user_input_required_and_allowed_values_come_from_clean_decision(reviewer_client):
    req = pending("trip_planner")
    response = post(reviewer_client, req, action="submit", **{"value-days": "3", "value-pace": "sprint"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="field-city-error">This field is required.</p>' in page
    assert 'id="field-pace-error">Must be one of: slow, fast.</p>' in page
    assert Decision.objects.count() == 0


def test_list_and_dict_fields_take_json(reviewer_client, sent_runs, django_capture_on_commit_callbacks, temp_workflow):
    from workflows.engine import UserInputField

    wf = temp_workflow(
        Workflow(
            name="json_fields",
            steps=[
                Step(
                    name="collect",
                    executor=lambda si: "ok",
                    human_review=HumanReview(
                        requires_user_input=True,
                        user_input_schema=[
                            UserInputField(name="tags", field_type="list"),
                            UserInputField(name="limits", field_type="dict"),
                            UserInputField(name="ratio", field_type="float", required=False),
                        ],
                    ),
                )
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    page = reviewer_client.get(url(req)).content.decode()
    assert '<textarea id="field-tags"' in page and 'step="any"' in page
    bad = post(reviewer_client, req, action="submit", **{"value-tags": "[1, 2", "value-limits": '{"a": 1}'})
    assert bad.status_code == 400
    assert "Enter valid JSON" in bad.content.decode()
    wrong_type = post(reviewer_client, req, action="submit", **{"value-tags": '{"a": 1}', "value-limits": "[]"})
    assert wrong_type.status_code == 400
    assert "Enter a list." in wrong_type.content.decode()
    huge = post(
        reviewer_client, req, action="submit", **{"value-tags": json.dumps(["x" * 1000] * 120), "value-limits": "{}"}
    )
    assert huge.status_code == 400
    assert "at most 100 KB" in huge.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        ok = post(
            reviewer_client,
            req,
            action="submit",
            **{"value-tags": '["a", "b"]', "value-limits": '{"cpu": 2}', "value-ratio": "0.5"},
        )
    assert ok.status_code == 302
    req.refresh_from_db()
    assert req.resolution["values"] == {"tags": ["a", "b"], "limits": {"cpu": 2}, "ratio": 0.5}


def test_output_review_page(reviewer_client):
    req = pending("blog_post", "spring")
    page = reviewer_client.get(url(req)).content.decode()
    assert "Draft about spring" in page
    assert ">Approve</button>" in page and ">Edit</button>" in page and ">Reject</button>" in page
    assert 'for="field-feedback">Feedback</label>' in page


def test_output_review_approve(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("blog_post")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(reviewer_client, req, action="confirm")
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "confirm"}


def test_output_review_edit_shows_diff_before_saving(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("blog_post", "spring")
    edit_page = reviewer_client.get(url(req) + "?edit=1").content.decode()
    assert '<label for="field-output">Output</label>' in edit_page
    assert ">Draft about spring</textarea>" in edit_page
    assert ">Save</button>" in edit_page

    # Without htmx, Save first shows the diff; nothing is applied yet.
    preview = post(reviewer_client, req, action="edit", output="Draft about spring\r\nwith a second line")
    assert preview.status_code == 200
    page = preview.content.decode()
    assert '<span class="diff-add">+with a second line</span>' in page
    assert 'name="confirmed"' in page
    req.refresh_from_db()
    assert req.status == "PENDING"
    token = page.split('name="confirmed" value="')[1].split('"')[0]

    # Changing the text again invalidates the preview: a new diff is shown.
    again = post(reviewer_client, req, action="edit", output="something else", confirmed=token)
    assert again.status_code == 200 and "+something else" in again.content.decode()
    req.refresh_from_db()
    assert req.status == "PENDING"

    with django_capture_on_commit_callbacks(execute=True):
        saved = post(
            reviewer_client, req, action="edit", output="Draft about spring\nwith a second line", confirmed=token
        )
    assert saved.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "edit", "output": "Draft about spring\nwith a second line"}
    decision = Decision.objects.get(requirement=req)
    assert "+with a second line" in decision.diff


def test_output_review_edit_with_htmx_saves_at_once_and_live_diff_never_decides(
    reviewer_client, sent_runs, django_capture_on_commit_callbacks
):
    req = pending("blog_post", "spring")
    diff = post(
        reviewer_client, req, action="edit", output="new text", diff_only="1", confirmed="live", HTTP_HX_REQUEST="true"
    )
    assert diff.status_code == 200
    body = diff.content.decode()
    assert "<html" not in body and '<span class="diff-add">+new text</span>' in body
    req.refresh_from_db()
    assert req.status == "PENDING"
    # "live" means nothing without htmx (the page had no live diff): preview first.
    assert post(reviewer_client, req, action="edit", output="new text", confirmed="live").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        saved = reviewer_client.post(
            url(req),
            {"version": req.version, "action": "edit", "output": "new text", "confirmed": "live"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_BOOSTED="true",
        )
    assert saved.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "edit", "output": "new text"}


def test_output_review_edit_of_structured_output_takes_json(
    reviewer_client, sent_runs, django_capture_on_commit_callbacks, temp_workflow
):
    wf = temp_workflow(
        Workflow(
            name="structured_review",
            steps=[
                Step(
                    name="plan",
                    executor=lambda si: {"items": [1, 2]},
                    human_review=HumanReview(requires_output_review=True),
                )
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    page = reviewer_client.get(url(req) + "?edit=1").content.decode()
    assert "&quot;items&quot;: [" in page
    bad = post(reviewer_client, req, action="edit", output="{not json")
    assert bad.status_code == 400
    assert 'id="output-error">Enter valid JSON' in bad.content.decode()
    big = post(reviewer_client, req, action="edit", output="x" * (101 * 1024))
    assert big.status_code == 400 and "at most 100 KB" in big.content.decode()
    preview = post(reviewer_client, req, action="edit", output='{"items": [1, 2, 3]}')
    token = preview.content.decode().split('name="confirmed" value="')[1].split('"')[0]
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post(reviewer_client, req, action="edit", output='{"items": [1, 2, 3]}', confirmed=token).status_code == 302
        )
    req.refresh_from_db()
    assert req.resolution == {"action": "edit", "output": {"items": [1, 2, 3]}}
    assert "+    3" in Decision.objects.get(requirement=req).diff


def test_route_selection_multiple(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("research_router")
    page = reviewer_client.get(url(req)).content.decode()
    for name in ("quick", "deep", "expert"):
        assert 'type="checkbox" id="choice-' in page and f'value="{name}"' in page
    assert "Several sources, takes longer." in page
    assert ">Select</button>" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = reviewer_client.post(
            url(req), {"version": req.version, "action": "select", "choices": ["quick", "deep"]}
        )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "select", "choices": ["quick", "deep"]}


def test_route_selection_single_uses_radios_and_validates(reviewer_client, temp_workflow):
    from workflows.engine import Router

    wf = temp_workflow(
        Workflow(
            name="single_route",
            steps=[
                Router(
                    name="pick",
                    choices=[Step(name="a", executor=lambda si: "a"), Step(name="b", executor=lambda si: "b")],
                    human_review=HumanReview(requires_user_input=True),
                )
            ],
        )
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    page = reviewer_client.get(url(req)).content.decode()
    assert 'type="radio"' in page and 'type="checkbox" id="choice' not in page
    none = post(reviewer_client, req, action="select")
    assert none.status_code == 400 and 'id="choices-error">Select at least one route.' in none.content.decode()
    unknown = post(reviewer_client, req, action="select", choices="zzz")
    assert unknown.status_code == 400 and "Unknown route(s): zzz" in unknown.content.decode()
    two = reviewer_client.post(url(req), {"version": req.version, "action": "select", "choices": ["a", "b"]})
    assert two.status_code == 400 and "Select exactly one route." in two.content.decode()


def test_iteration_review(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("copy_refiner", "Ship")
    page = reviewer_client.get(url(req)).content.decode()
    assert "Output of iteration 1 of 5" in page and "Ship+" in page
    assert ">Accept</button>" in page and ">Reject</button>" in page
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, req, action="reject", feedback="punchier")
    req.refresh_from_db()
    assert req.resolution == {"action": "reject", "feedback": "punchier"}


def test_error_kind(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("inventory_sync")
    page = reviewer_client.get(url(req)).content.decode()
    assert "ConnectionError" in page and "inventory service unavailable" in page
    assert ">Retry</button>" in page and ">Skip</button>" in page
    assert "Feedback" not in page  # no Reject here
    with django_capture_on_commit_callbacks(execute=True):
        assert post(reviewer_client, req, action="skip").status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "skip"}


def test_error_kind_retry(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("inventory_sync")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(reviewer_client, req, action="retry").status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "retry"}


def test_external_execution(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("support_agent")
    page = reviewer_client.get(url(req)).content.decode()
    assert "lookup_contract" in page and "&quot;ACME&quot;" not in page and "ACME" in page
    assert '<label for="field-result">Result</label>' in page and ">Submit</button>" in page
    empty = post(reviewer_client, req, action="provide_result", result="  ")
    assert empty.status_code == 400 and 'id="result-error">This field is required.' in empty.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(reviewer_client, req, action="provide_result", result="Contract 7, gold tier").status_code == 302
    req.refresh_from_db()
    assert req.resolution == {"action": "provide_result", "result": "Contract 7, gold tier"}


def test_executor_confirmation_and_user_input(reviewer_client, django_capture_on_commit_callbacks, sent_runs):
    batch = executor_batch()
    confirm, tool_input = batch["executor_confirmation"], batch["executor_user_input"]
    page = reviewer_client.get(url(confirm)).content.decode()
    assert "send_email" in page and "ops@acme.test" in page
    assert ">Confirm</button>" in page and ">Reject</button>" in page
    page = reviewer_client.get(url(tool_input)).content.decode()
    assert "issue_credit" in page and '<label for="field-amount">amount</label>' in page
    with django_capture_on_commit_callbacks(execute=True):
        assert post(reviewer_client, confirm, action="confirm").status_code == 302
    assert sent_runs == []  # the other call of the same agent turn still waits
    with django_capture_on_commit_callbacks(execute=True):
        assert post(reviewer_client, tool_input, action="submit", **{"value-amount": "25"}).status_code == 302
    tool_input.refresh_from_db()
    assert tool_input.resolution == {"action": "submit", "values": {"amount": 25}}
    assert sent_runs == [str(tool_input.run_id)]


# -- after a decision ---------------------------------------------------------------------------
def test_redirects_to_the_next_pending_item_then_to_the_inbox(
    reviewer_client, sent_runs, django_capture_on_commit_callbacks
):
    older = pending("data_export")
    newer = pending("refund_decision")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(reviewer_client, newer, action="confirm")
    assert response["Location"] == url(older)
    page = reviewer_client.get(response["Location"]).content.decode()
    assert "Confirmed “refund_or_voucher” (refund_decision)." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = post(reviewer_client, older, action="confirm")
    assert response["Location"] == reverse("approvals:inbox")
    assert "Nothing else is waiting for you." in reviewer_client.get(response["Location"]).content.decode()


def test_resolved_requirement_shows_the_decision(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, req, action="reject", feedback="no")
    page = reviewer_client.get(url(req)).content.decode()
    assert "Resolved by <strong>rita</strong>" in page
    assert ">Confirm</button>" not in page


# -- errors ------------------------------------------------------------------------------------
def test_stale_version_is_409_and_changes_nothing(reviewer_client):
    req = pending("data_export")
    response = post(reviewer_client, req, action="confirm", version=req.version + 5)
    assert response.status_code == 409
    assert "changed since you opened it" in response.content.decode()
    req.refresh_from_db()
    assert req.status == "PENDING"
    assert Decision.objects.count() == 0


def test_already_resolved_is_409_naming_who(reviewer_client, make_user, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    other = make_user("bob", "resolve_requirement")
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(requirement_id=req.id, user=other, action="confirm", version=req.version)
    response = post(reviewer_client, req, action="reject", feedback="too late")
    assert response.status_code == 409
    assert "already resolved by <strong>bob</strong>" in response.content.decode()
    req.refresh_from_db()
    assert req.resolution == {"action": "confirm"}
    assert list(Decision.objects.values_list("username", flat=True)) == ["bob"]


def test_expired_is_409(reviewer_client):
    req = pending("data_export")
    Requirement.objects.filter(id=req.id).update(timeout_at=timezone.now() - timedelta(seconds=1))
    response = post(reviewer_client, req, action="confirm")
    assert response.status_code == 409
    assert "expired" in response.content.decode()
    req.refresh_from_db()
    assert req.status == "EXPIRED"
    # The timeout is audited (as the system); the late decision is not.
    assert list(Decision.objects.values_list("username", "action")) == [("system", "timed_out")]


def test_action_the_kind_does_not_take_is_400(reviewer_client):
    req = pending("data_export")
    response = post(reviewer_client, req, action="retry")
    assert response.status_code == 400
    assert "accepts confirm, reject" in response.content.decode()
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_edit_is_refused_for_other_kinds(reviewer_client):
    req = pending("data_export")
    response = post(reviewer_client, req, action="edit", output="x")
    assert response.status_code == 400
    assert "A confirmation requirement accepts confirm, reject; &#x27;edit&#x27; is not one of them." in (
        response.content.decode()
    )
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_missing_version_is_400(reviewer_client):
    req = pending("data_export")
    response = reviewer_client.post(url(req), {"action": "confirm"})
    assert response.status_code == 400
    assert "missing its version" in response.content.decode()


def test_feedback_too_long_is_400(reviewer_client):
    req = pending("data_export")
    response = post(reviewer_client, req, action="reject", feedback="x" * 10_001)
    assert response.status_code == 400
    assert 'id="feedback-error">At most 10000 characters.' in response.content.decode()


def test_csrf_is_enforced(reviewer, sent_runs):
    req = pending("data_export")
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = client.post(url(req), {"action": "confirm", "version": req.version})
    assert response.status_code == 403
    req.refresh_from_db()
    assert req.status == "PENDING"
    # With the token from the page, the same POST goes through.
    page = client.get(url(req)).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert (
        client.post(url(req), {"action": "confirm", "version": req.version, "csrfmiddlewaretoken": token}).status_code
        == 302
    )


def test_output_is_escaped(reviewer_client):
    wf = Workflow(
        name="xss_review",
        steps=[
            Step(
                name="<b>draft</b>",
                executor=lambda si: "<script>alert('x')</script>",
                human_review=HumanReview(
                    requires_output_review=True, output_review_message="<img src=x onerror=alert(1)>"
                ),
            )
        ],
    )
    req = Requirement.objects.get(run_id=wf.run("<i>input</i>").run_id)
    page = reviewer_client.get(url(req)).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>draft</b>" not in page and "<i>input</i>" not in page
    edit = reviewer_client.get(url(req) + "?edit=1").content.decode()
    assert "<script>alert" not in edit
    run = WorkflowRun.objects.get(id=req.run_id)
    assert run.input == "<i>input</i>"
