"""The inbox: what each person sees, filters, search, pagination, the htmx partial, query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

from .conftest import pending

pytestmark = pytest.mark.django_db

INBOX = reverse("approvals:inbox")


def assigned_workflow(**assignment) -> Workflow:
    return Workflow(
        name="assigned_" + "_".join(sorted(assignment)),
        steps=[
            Step(
                name="approve_payment",
                executor=lambda si: "paid",
                human_review=HumanReview(requires_confirmation=True, **assignment),
            )
        ],
    )


def test_login_required(client):
    response = client.get(INBOX)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/inbox/"


def test_lists_pending_requirements_due_soonest_first(reviewer_client):
    first = pending("data_export")  # times out in an hour
    second = pending("blog_post")  # no date: after it, though newer
    response = reviewer_client.get(INBOX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Inbox</h1>" in page
    assert page.index(f"req-{first.id}") < page.index(f"req-{second.id}")
    assert f'href="/inbox/{first.id}/"' in page
    assert ">export</a>" in page and ">data_export</td>" in page and ">Confirmation</span>" in page
    assert ">Output review</span>" in page
    assert 'class="badge" id="inbox-count"' in page and ">2<" in page


def test_countdown_shows_for_requirements_with_a_deadline(reviewer_client):
    req = pending("data_export")
    page = reviewer_client.get(INBOX).content.decode()
    assert f'datetime="{req.timeout_at.isoformat()}" data-countdown' in page or "data-countdown" in page
    assert "left</time>" in page


def test_resolved_and_foreign_requirements_are_not_listed(
    reviewer_client, reviewer, sent_runs, finance_group, django_capture_on_commit_callbacks
):
    from workflows import services

    done = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(requirement_id=done.id, user=reviewer, action="confirm", version=done.version)
    foreign = Requirement.objects.get(run_id=assigned_workflow(groups=["finance"]).run("x").run_id)
    page = reviewer_client.get(INBOX).content.decode()
    assert f"req-{done.id}" not in page
    assert f"req-{foreign.id}" not in page
    assert "Nothing is waiting for you." in page


def test_without_permission_only_assigned_items_show(client, outsider, finance_group, sent_runs):
    open_to_all = pending("data_export")
    mine = Requirement.objects.get(run_id=assigned_workflow(assignees=[outsider.username]).run("x").run_id)
    client.force_login(outsider)
    page = client.get(INBOX).content.decode()
    assert f"req-{mine.id}" in page
    assert f"req-{open_to_all.id}" not in page


def test_filters_by_workflow_kind_and_assignment(reviewer_client, reviewer, finance_group):
    export = pending("data_export")
    draft = pending("blog_post")
    reviewer.groups.add(finance_group)
    to_group = Requirement.objects.get(run_id=assigned_workflow(groups=["finance"]).run("x").run_id)
    to_me = Requirement.objects.get(run_id=assigned_workflow(assignees=["rita"]).run("x").run_id)

    def listed(**params):
        page = reviewer_client.get(INBOX, params).content.decode()
        return {r for r in (export, draft, to_group, to_me) if f"req-{r.id}" in page}

    assert listed() == {export, draft, to_group, to_me}
    assert listed(workflow="blog_post") == {draft}
    assert listed(kind="output_review") == {draft}
    assert listed(kind="confirmation") == {export, to_group, to_me}
    assert listed(assigned="me") == {to_me}
    assert listed(assigned="groups") == {to_group}
    assert listed(kind="no-such-kind") == {export, draft, to_group, to_me}  # ignored


def test_search_by_workflow_step_and_run_id(reviewer_client):
    export = pending("data_export")
    draft = pending("blog_post")

    def listed(q):
        page = reviewer_client.get(INBOX, {"q": q}).content.decode()
        return {r for r in (export, draft) if f"req-{r.id}" in page}

    assert listed("export") == {export}
    assert listed("DRAFT") == {draft}
    assert listed(str(draft.run_id)) == {draft}
    assert listed(str(export.run_id)[:8]) == {export}
    assert listed("nothing-like-this") == set()
    assert "Nothing matches these filters." in reviewer_client.get(INBOX, {"q": "zzz"}).content.decode()


def test_htmx_request_renders_only_the_table(reviewer_client):
    req = pending("data_export")
    response = reviewer_client.get(INBOX, {"q": "export"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="inbox-table"')
    assert "<html" not in body and "<h1>" not in body
    assert f"req-{req.id}" in body
    # A boosted navigation wants the whole page.
    boosted = reviewer_client.get(INBOX, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true").content.decode()
    assert "<h1>Inbox</h1>" in boosted


def test_row_partial_renders_alone(reviewer_client):
    from django.template.loader import render_to_string

    req = pending("data_export")
    html = render_to_string("approvals/inbox.html#inbox-row", {"req": req})
    assert html.strip().startswith(f'<tr id="req-{req.id}"')
    assert f'href="/inbox/{req.id}/"' in html


def _bulk_pending(count: int):
    """``count`` pending requirements on one run, cheaply (rows, not workflow executions)."""
    template = pending("data_export")
    now = timezone.now()
    Requirement.objects.bulk_create(
        [
            Requirement(
                run_id=template.run_id,
                key=f"bulk:{i}",
                path=f"9/{i}",
                step_name=f"bulk_{i:03d}",
                kind="confirmation",
                workflow_name="data_export",
                created_at=now - timedelta(minutes=i),
                timeout_at=now + timedelta(hours=1) if i % 2 else None,
            )
            for i in range(count)
        ]
    )


def test_pagination(reviewer_client):
    _bulk_pending(30)  # + the template requirement = 31
    first = reviewer_client.get(INBOX).content.decode()
    assert first.count('class="inbox-row"') == 25
    assert "31 pending" in first and "page 1 of 2" in first
    assert "Next page" in first
    second = reviewer_client.get(INBOX, {"page": 2}).content.decode()
    assert second.count('class="inbox-row"') == 6
    assert "Previous page" in second
    assert reviewer_client.get(INBOX, {"page": "99"}).status_code == 200  # clamps to the last page
    filtered = reviewer_client.get(INBOX, {"q": "bulk", "page": 2}).content.decode()
    assert "q=bulk&amp;page=1" in filtered


@pytest.mark.parametrize("count", [1, 60])
def test_query_count_is_bounded(reviewer_client, reviewer, finance_group, django_assert_max_num_queries, count):
    reviewer.groups.add(finance_group)
    _bulk_pending(count)
    # The same few queries whatever the inbox holds: session, user, permissions, the page of rows
    # with their assignees, groups and approvals, and the reviewer's notification channels.
    with django_assert_max_num_queries(11):
        response = reviewer_client.get(INBOX)
    assert response.status_code == 200
    with django_assert_max_num_queries(11):
        reviewer_client.get(
            INBOX, {"q": "bulk", "kind": "confirmation", "workflow": "data_export", "assigned": "groups"}
        )


def test_a_huge_inbox_is_counted_up_to_the_cap(reviewer_client, monkeypatch):
    from approvals import selectors as approval_selectors

    monkeypatch.setattr(approval_selectors, "COUNT_CAP", 3)
    for _ in range(5):
        pending("data_export")
    response = reviewer_client.get("/inbox/")
    text = response.content.decode()
    assert "3+ pending" in text and text.count('class="inbox-row"') == 5  # every row is still listed
