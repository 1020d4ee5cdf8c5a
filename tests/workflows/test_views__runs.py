"""/runs/ and /runs/<id>/: visibility, filters, pagination, the run page's parts, cancelling."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Decision
from workflows import registry, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


def run_of(name: str, input="x", user=None) -> WorkflowRun:
    return WorkflowRun.objects.get(id=registry.get(name).run(input, user=user).run_id)


# -- the list -------------------------------------------------------------------------------------
def test_run_list__needs_login(client):
    response = client.get("/runs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_run_list__operator_sees_every_run(client, operator, outsider):
    mine = run_of("data_export", user=operator)
    theirs = run_of("blog_post", user=outsider)
    client.force_login(operator)
    response = client.get("/runs/")
    assert response.status_code == 200
    assert f"/runs/{mine.id}/" in response.text
    assert f"/runs/{theirs.id}/" in response.text


def test_run_list__others_see_only_their_own(client, operator, outsider):
    mine = run_of("blog_post", user=outsider)
    theirs = run_of("data_export", user=operator)
    client.force_login(outsider)
    response = client.get("/runs/")
    assert f"/runs/{mine.id}/" in response.text
    assert f"/runs/{theirs.id}/" not in response.text


def test_run_list__empty_says_what_this_user_can_do(client, operator, reviewer):
    client.force_login(reviewer)  # sees only runs they started, and may start none
    text = client.get("/runs/").text
    assert "No runs." in text and "Runs you start or review appear here" in text and 'href="/inbox/"' in text
    assert "Start one from a" not in text
    client.force_login(operator)
    text = client.get("/runs/").text
    assert "Start one from a" in text and "Runs you start or review appear here" not in text


def test_run_list__filters_by_workflow_status_and_dates(client, operator):
    export = run_of("data_export")
    post = run_of("blog_post")
    done = run_of("onboarding")  # the condition is false for "x": completes at once
    old = run_of("data_export")
    WorkflowRun.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=10))
    client.force_login(operator)

    def listed(**params):
        text = client.get("/runs/", params).text
        return {run.id for run in (export, post, done, old) if f"/runs/{run.id}/" in text}

    assert listed(workflow="data_export") == {export.id, old.id}
    assert listed(status="COMPLETED") == {done.id}
    assert done.status == "COMPLETED"
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert listed(created_from=week_ago) == {export.id, post.id, done.id}
    assert listed(created_to=week_ago) == {old.id}
    assert listed(workflow="data_export", created_from=week_ago) == {export.id}


def test_run_list__invalid_filters_are_reported_not_a_500(client, operator):
    run = run_of("data_export")
    client.force_login(operator)
    response = client.get("/runs/", {"status": "NOPE", "created_from": "yesterday", "page": "abc"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert "Enter a valid date" in response.text
    assert f"/runs/{run.id}/" in response.text  # invalid filters are ignored


def test_run_list__reversed_date_range_is_an_error(client, operator):
    client.force_login(operator)
    response = client.get("/runs/", {"created_from": "2026-05-02", "created_to": "2026-05-01"})
    assert "Must not be before" in response.text


def test_run_list__paginates(client, operator):
    for _ in range(30):
        run_of("onboarding")
    client.force_login(operator)
    first = client.get("/runs/")
    assert first.text.count('aria-label="Run ') == 25
    assert "Page 1 of 2" in first.text
    second = client.get("/runs/", {"page": 2})
    assert second.text.count('aria-label="Run ') == 5
    # the filters survive paging
    filtered = client.get("/runs/", {"workflow": "onboarding", "page": 1})
    assert "workflow=onboarding&amp;page=2" in filtered.text


def test_run_list__a_constant_number_of_queries(client, operator, outsider):
    client.force_login(operator)
    run_of("data_export", user=outsider)
    client.get("/runs/")  # warm caches (content types, registry)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/runs/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for i in range(20):
        run_of("data_export" if i % 2 else "release_checks", user=outsider if i % 3 else operator)
    assert queries() == few
    assert few <= 10


# -- the run page ---------------------------------------------------------------------------------
def test_run_page__shows_header_timeline_requirements_and_events(client, operator, paused_run):
    WorkflowRun.objects.filter(id=paused_run.id).update(additional_data={"priority": "high"})
    client.force_login(operator)
    response = client.get(f"/runs/{paused_run.id}/")
    assert response.status_code == 200
    text = response.text
    assert "data_export" in text
    assert "Paused" in text and "at export" in text
    assert "&quot;priority&quot;: &quot;high&quot;" in text  # additional data, pretty-printed
    assert "olga" in text  # created by
    # timeline: the fetch step, its JSON output pretty-printed
    assert 'id="run-timeline"' in text
    assert "&quot;customers&quot;: 3" in text
    # requirement history
    assert "Export customer records to the warehouse?" in text
    assert "Confirmation" in text and "Pending" in text
    # event log, without the internal checkpoints
    assert "WorkflowStarted" in text and "StepPaused" in text
    assert "Checkpoint" not in text
    assert "Cancel run" in text


def test_run_page__hides_checkpoint_events(client, operator):
    run = run_of("support_agent")  # its agent turns write Checkpoint events
    assert run.events.filter(event="Checkpoint").exists()
    client.force_login(operator)
    assert "Checkpoint" not in client.get(f"/runs/{run.id}/").text


def test_run_page__numbers_the_events_it_shows_without_gaps(client, operator):
    import re

    run = run_of("support_agent")  # Checkpoint events sit between the public ones
    seqs = list(run.events.order_by("seq").values_list("event", flat=True))
    assert "Checkpoint" in seqs[:-1]
    client.force_login(operator)
    text = client.get(f"/runs/{run.id}/").text
    log = text[text.index('id="run-events"') :]
    shown = [int(n) for n in re.findall(r'<th scope="row">(\d+)</th>', log)]
    assert shown == list(range(1, len([e for e in seqs if e != "Checkpoint"]) + 1))


def test_run_page__escapes_step_output(client, operator, temp_workflow):
    temp_workflow(
        Workflow(name="pages_xss", steps=[Step(name="evil", executor=lambda si: "<script>alert('x')</script>")])
    )
    run = run_of("pages_xss", input="<script>alert('input')</script>")
    client.force_login(operator)
    text = client.get(f"/runs/{run.id}/").text
    assert "<script>alert(" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(&#x27;input&#x27;)&lt;/script&gt;" in text


def test_run_page__unknown_or_invisible_is_404(client, operator, outsider, paused_run):
    client.force_login(outsider)
    assert client.get(f"/runs/{paused_run.id}/").status_code == 404
    assert client.get(f"/runs/{uuid.uuid4()}/").status_code == 404
    assert client.get("/runs/not-a-uuid/").status_code == 404


def test_run_page__shows_who_decided_and_edit_diffs(client, operator, make_user):
    editor = make_user("ed", "resolve_requirement")
    run = run_of("blog_post", input="launch")
    req = run.requirements.get()
    services.requirement_resolve(
        requirement_id=req.id, user=editor, action="edit", data={"output": "Draft about launch, edited"}
    )
    client.force_login(operator)
    text = client.get(f"/runs/{run.id}/").text
    assert "ed" in text
    assert "<strong>Edited</strong>" in text
    # The same diff component as the decision pages, changed words marked inside the line.
    assert '<span class="diff-del">-Draft about <del class="diff-word">launch</del></span>' in text
    assert '<span class="diff-add">+Draft about <ins class="diff-word">launch, edited</ins></span>' in text


def test_run_page__edit_diff_is_the_audit_rows(client, operator, make_user, temp_workflow):
    """One pretty-printer and one diff for both: keys in any order, the same lines."""
    temp_workflow(
        Workflow(
            name="pages_structured_review",
            steps=[
                Step(
                    name="draft",
                    executor=lambda si: {"title": "Spring", "tags": ["a", "b"], "body": {"z": 1, "a": 2}},
                    human_review=HumanReview(requires_output_review=True),
                )
            ],
        )
    )
    editor = make_user("ed", "resolve_requirement")
    run = run_of("pages_structured_review")
    req = run.requirements.get()
    edited = {"tags": ["a", "c"], "body": {"a": 2, "z": 1}, "title": "Summer"}
    services.requirement_resolve(requirement_id=req.id, user=editor, action="edit", data={"output": edited})
    audit = Decision.objects.get(requirement_id=req.id).diff
    assert audit.startswith("--- shown output\n+++ edited output\n")
    client.force_login(operator)
    page = client.get(f"/runs/{run.id}/").context["requirements"][0].edit_diff
    assert page.splitlines() == audit.splitlines()[2:]  # the page's caption names the two sides
    assert '-  "title": "Spring"' in page and '+  "title": "Summer"' in page


def test_run_page__shows_rejection_feedback(client, operator, reviewer, paused_run):
    req = paused_run.requirements.get()
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="reject", data={"feedback": "not now"})
    client.force_login(operator)
    text = client.get(f"/runs/{paused_run.id}/").text
    assert "<strong>Rejected</strong>" in text
    assert "not now" in text
    assert "rita" in text


def test_run_page__links_pending_requirements_to_the_inbox_for_resolvers(client, make_user, paused_run):
    watcher = make_user("wendy", "view_workflowrun", "resolve_requirement")
    req = paused_run.requirements.get()
    client.force_login(watcher)
    assert f'href="/inbox/{req.id}/"' in client.get(f"/runs/{paused_run.id}/").text


def test_run_page__hides_requirements_assigned_to_others(client, make_user, temp_workflow):
    make_user("alice", "resolve_requirement")
    starter = make_user("sam")
    temp_workflow(
        Workflow(
            name="pages_assigned",
            steps=[
                Step(
                    name="approve",
                    executor=lambda si: "ok",
                    human_review=HumanReview(
                        requires_confirmation=True, confirmation_message="Secret?", assignees=["alice"]
                    ),
                )
            ],
        )
    )
    run = run_of("pages_assigned", user=starter)
    client.force_login(starter)
    text = client.get(f"/runs/{run.id}/").text
    assert "Secret?" not in text
    assert "1 requirement assigned to others is not shown" in text
    auditor = make_user("audrey", "view_workflowrun", "view_requirement")
    client.force_login(auditor)
    assert "Secret?" in client.get(f"/runs/{run.id}/").text


def test_run_live__serves_the_partial_and_polls_only_while_active(client, operator, paused_run):
    client.force_login(operator)
    response = client.get(f"/runs/{paused_run.id}/live/")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="run-live"')
    assert 'hx-trigger="every 30s"' in response.text  # a safety net: changes are pushed
    services.run_cancel(run_id=paused_run.id, user=operator)
    response = client.get(f"/runs/{paused_run.id}/live/")
    assert "hx-trigger" not in response.text
    assert "Cancelled" in response.text


def test_run_live__a_poll_without_access_changes_nothing(client, outsider, paused_run):
    url = f"/runs/{paused_run.id}/live/"
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(outsider)
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
    assert client.get(url).status_code == 404


# -- cancelling -----------------------------------------------------------------------------------
def test_cancel__stops_the_run_and_its_requirements(client, operator, paused_run):
    client.force_login(operator)
    response = client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"})
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{paused_run.id}/"
    paused_run.refresh_from_db()
    assert paused_run.status == WorkflowRun.Status.CANCELLED
    assert paused_run.requirements.get().status == Requirement.Status.CANCELLED
    page = client.get(response["Location"]).text
    assert "Cancelled" in page
    assert "Cancel run" not in page  # no longer active
    assert '<dd id="run-cancel-reason">wrong input</dd>' in page
    assert paused_run.cancel_reason == "wrong input"
    event = paused_run.events.get(event="WorkflowCancelled")
    assert event.data["cancel_reason"] == "wrong input" and event.data["by"] == operator.username


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_cancel__without_a_reason_is_refused_and_the_form_says_why(client, operator, paused_run, reason):
    client.force_login(operator)
    response = client.post(f"/runs/{paused_run.id}/cancel/", {"reason": reason})
    assert response.status_code == 400
    assert 'id="cancel-reason-error"' in response.text and 'aria-invalid="true"' in response.text
    assert '<details class="cancel-run" open>' in response.text
    paused_run.refresh_from_db()
    assert paused_run.status == WorkflowRun.Status.PAUSED


def test_cancel__needs_the_permission(client, make_user, paused_run):
    viewer = make_user("vic", "view_workflowrun")
    client.force_login(viewer)
    assert "Cancel run" not in client.get(f"/runs/{paused_run.id}/").text
    assert client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"}).status_code == 403
    paused_run.refresh_from_db()
    assert paused_run.status == WorkflowRun.Status.PAUSED


def test_cancel__staff_status_alone_may_not_cancel_but_a_superuser_may(client, make_user, paused_run):
    client.force_login(make_user("stella", staff=True))
    assert client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"}).status_code in (403, 404)
    paused_run.refresh_from_db()
    assert paused_run.status == WorkflowRun.Status.PAUSED
    root = make_user("root")
    root.is_superuser = True
    root.save()
    client.force_login(root)
    assert client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"}).status_code == 302
    paused_run.refresh_from_db()
    assert paused_run.status == WorkflowRun.Status.CANCELLED


def test_cancel__a_finished_run_is_a_409_with_a_message(client, operator):
    run = run_of("onboarding")
    client.force_login(operator)
    response = client.post(f"/runs/{run.id}/cancel/", {"reason": "wrong input"})
    assert response.status_code == 409
    assert "Cannot cancel a run that is completed." in response.text


def test_cancel__invisible_run_is_404_and_get_is_405(client, make_user, paused_run):
    canceller = make_user("cass", "cancel_run")  # may cancel, but sees only their own runs
    client.force_login(canceller)
    assert client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"}).status_code == 404
    client.force_login(make_user("root", "cancel_run", "view_workflowrun"))
    assert client.get(f"/runs/{paused_run.id}/cancel/").status_code == 405


def test_cancel__needs_the_csrf_token(operator, paused_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(f"/runs/{paused_run.id}/cancel/", {"reason": "wrong input"}).status_code == 403
    page = client.get(f"/runs/{paused_run.id}/")
    token = page.context["csrf_token"]
    assert (
        client.post(
            f"/runs/{paused_run.id}/cancel/", {"csrfmiddlewaretoken": str(token), "reason": "wrong input"}
        ).status_code
        == 302
    )


def test_run_page__a_constant_number_of_queries(client, operator):
    small = run_of("onboarding")
    big = run_of("support_agent")
    for name in ("blog_post", "release_checks"):
        run_of(name)
    client.force_login(operator)
    client.get(f"/runs/{small.id}/")  # warm caches

    def queries(run) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/runs/{run.id}/").status_code == 200
        return len(ctx.captured_queries)

    assert queries(small) == queries(big)
