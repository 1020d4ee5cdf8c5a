""" "Next item" after a decision: within the inbox filters the reviewer came from, and the rejected
step's new attempt first when the run makes one for the same reviewer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from workflows import services
from workflows.models import Requirement

from .conftest import pending

pytestmark = pytest.mark.django_db


def decide_url(req, inbox: str = "") -> str:
    url = reverse("approvals:decide", args=[req.id])
    return f"{url}?inbox={inbox}" if inbox else url


def test_inbox_links_carry_the_filters(reviewer_client):
    req = pending("data_export")
    page = reviewer_client.get("/inbox/?workflow=data_export&kind=confirmation").content.decode()
    assert f"/inbox/{req.id}/?inbox=workflow%3Ddata_export%26kind%3Dconfirmation" in page


def test_next_item_stays_within_the_filters(reviewer_client):
    first = pending("data_export")
    other = pending("refund_decision")  # newer, other workflow: next in inbox order without filters
    second = pending("data_export")
    page = reviewer_client.get(decide_url(second, "workflow=data_export")).content.decode()
    assert 'name="inbox" value="workflow=data_export"' in page
    assert 'href="/inbox/?workflow=data_export">Inbox' in page
    response = reviewer_client.post(
        decide_url(second), {"action": "confirm", "version": second.version, "inbox": "workflow=data_export"}
    )
    assert response.status_code == 302
    assert response["Location"] == decide_url(first, "workflow%3Ddata_export")
    response = reviewer_client.post(
        decide_url(first), {"action": "confirm", "version": first.version, "inbox": "workflow=data_export"}
    )
    # Nothing else matches: back to the filtered inbox, although another workflow's item waits.
    assert response["Location"] == "/inbox/?workflow=data_export"
    other.refresh_from_db()
    assert other.status == "PENDING"


def test_without_filters_next_item_is_any_pending(reviewer_client):
    older = pending("refund_decision")
    req = pending("data_export")
    response = reviewer_client.post(decide_url(req), {"action": "confirm", "version": req.version})
    assert response["Location"] == decide_url(older)


def test_next_item_passes_over_what_someone_else_claimed(reviewer_client, make_user):
    claimed = pending("data_export")  # waits too, but only its claimer decides it
    req = pending("data_export")
    services.requirement_claim(requirement_id=claimed.id, user=make_user("carl", "resolve_requirement"))
    response = reviewer_client.post(decide_url(req), {"action": "confirm", "version": req.version})
    assert response["Location"] == "/inbox/"
    assert f"req-{claimed.id}" in reviewer_client.get("/inbox/").content.decode()  # still listed


def test_after_a_reject_the_revised_draft_comes_next(reviewer_client, sent_runs):
    older = pending("data_export")  # next in inbox order: what "next" offered before
    draft = pending("blog_post")
    response = reviewer_client.post(
        decide_url(draft), {"action": "reject", "version": draft.version, "feedback": "shorter"}
    )
    wait_url = reverse("approvals:next", args=[draft.id])
    assert response["Location"] == wait_url
    # The run continues in the background: the page waits for the new attempt.
    waiting = reviewer_client.get(wait_url)
    assert waiting.status_code == 200
    assert "Waiting for the revised draft" in waiting.content.decode()
    assert reviewer_client.get(wait_url, headers={"HX-Request": "true"}).status_code == 204
    # A boosted decision form lands here through its redirect: that is a navigation, not the poll.
    boosted = reviewer_client.get(wait_url, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 200 and "Waiting for the revised draft" in boosted.content.decode()
    services.run_advance(run_id=draft.run_id)  # the worker's job
    revised = Requirement.objects.get(run_id=draft.run_id, status="PENDING")
    assert revised.attempt == draft.attempt + 1
    assert reviewer_client.get(wait_url)["Location"] == decide_url(revised)
    polled = reviewer_client.get(wait_url, headers={"HX-Request": "true"})
    assert polled["HX-Redirect"] == decide_url(revised)
    older.refresh_from_db()
    assert older.status == "PENDING"


def test_waiting_can_be_skipped(reviewer_client, sent_runs):
    older = pending("data_export")
    draft = pending("blog_post")
    reviewer_client.post(decide_url(draft), {"action": "reject", "version": draft.version, "feedback": "no"})
    skip = reviewer_client.get(reverse("approvals:next", args=[draft.id]) + "?skip=1")
    assert skip["Location"] == decide_url(older)


def test_next_of_a_requirement_not_visible_is_404(client, outsider, sent_runs):
    req = pending("data_export")
    client.force_login(outsider)
    assert client.get(reverse("approvals:next", args=[req.id])).status_code == 404


def test_next_item_and_neighbours_follow_the_sort_the_reviewer_chose(reviewer_client, reviewer):
    from approvals import selectors

    a, b, c = pending("data_export"), pending("data_export"), pending("data_export")  # oldest first
    oldest_first = selectors.InboxFilters(sort="age")
    assert selectors.neighbours_for(user=reviewer, req=b, filters=oldest_first) == (a, c)
    # The default order puts what times out soonest first: here, the oldest too.
    assert selectors.neighbours_for(user=reviewer, req=b, filters=selectors.InboxFilters()) == (a, c)
    response = reviewer_client.post(decide_url(a), {"action": "confirm", "version": a.version, "inbox": "sort=age"})
    assert response["Location"] == decide_url(b, "sort%3Dage")
    page = reviewer_client.get("/inbox/?sort=age").content.decode()
    assert f"/inbox/{b.id}/?inbox=sort%3Dage" in page
