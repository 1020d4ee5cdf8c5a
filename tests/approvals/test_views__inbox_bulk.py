"""Bulk decisions from the inbox without JavaScript: a checkbox per row of the kinds that ask for no
input, "Approve selected" / "Reject selected", and a page that says what became of each item."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import Decision
from workflows import services
from workflows.models import Requirement

from .conftest import pending

pytestmark = pytest.mark.django_db


def selected(*reqs) -> list[str]:
    return [f"{req.id}:{req.version}" for req in reqs]


def test_rows_of_kinds_without_input_have_a_named_checkbox(reviewer_client):
    confirm, trip = pending("data_export"), pending("trip_planner")
    page = reviewer_client.get("/inbox/").content.decode()
    assert f'name="selected" value="{confirm.id}:{confirm.version}" aria-label="Select {confirm.step_name}"' in page
    assert f'value="{trip.id}:' not in page  # user input: decided on its own page
    assert ">Approve selected</button>" in page and ">Reject selected</button>" in page
    assert '<label for="bulk-feedback">Feedback</label>' in page


def test_approve_selected_decides_each_and_reports(reviewer_client, reviewer):
    confirm, draft, error = pending("data_export"), pending("blog_post"), pending("inventory_sync")
    taken = pending("data_export")
    services.requirement_resolve(requirement_id=taken.id, user=reviewer, action="confirm")
    response = reviewer_client.post(
        reverse("approvals:bulk"), {"action": "approve", "selected": selected(confirm, draft, error, taken)}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 done, 1 already decided." in page
    assert "Confirmed" in page and "Approved" in page and "Retrying" in page
    assert "Already decided by rita: resolved" in page
    for req, action in ((confirm, "confirm"), (draft, "confirm"), (error, "retry")):
        req.refresh_from_db()
        assert req.status == "RESOLVED" and req.resolution["action"] == action
    assert Decision.objects.filter(requirement_id=taken.id).count() == 1


def test_reject_selected_sends_the_feedback_and_skips_errors(reviewer_client):
    confirm, error = pending("data_export"), pending("inventory_sync")
    response = reviewer_client.post(
        reverse("approvals:bulk"), {"action": "reject", "selected": selected(confirm, error), "feedback": "not now"}
    )
    assert "2 done." in response.content.decode()
    confirm.refresh_from_db()
    error.refresh_from_db()
    assert confirm.resolution == {"action": "reject", "feedback": "not now"}
    assert error.resolution == {"action": "skip"}


def test_stale_items_and_input_kinds_are_refused_and_unchanged(reviewer_client):
    confirm, trip = pending("data_export"), pending("trip_planner")
    response = reviewer_client.post(
        reverse("approvals:bulk"),
        {"action": "reject", "selected": [f"{confirm.id}:{confirm.version + 1}", f"{trip.id}:{trip.version}"]},
    )
    page = response.content.decode()
    assert "0 done, 2 refused." in page
    assert "Not applied: it changed since the inbox showed it" in page
    assert "Refused: it asks for input, decide it on its own page" in page
    assert set(Requirement.objects.filter(id__in=[confirm.id, trip.id]).values_list("status", flat=True)) == {"PENDING"}


def test_items_not_visible_are_refused(client, outsider, sent_runs):
    req = pending("data_export")
    client.force_login(outsider)
    response = client.post(reverse("approvals:bulk"), {"action": "approve", "selected": selected(req)})
    assert "Refused: not found, or no longer yours" in response.content.decode()
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_nothing_selected_goes_back_with_a_message(reviewer_client):
    response = reviewer_client.post(
        reverse("approvals:bulk"), {"action": "approve", "inbox": "kind=error"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/inbox/?kind=error"
    assert "Nothing selected" in response.content.decode()


def test_bad_action_is_400_and_get_is_405(reviewer_client):
    req = pending("data_export")
    assert (
        reviewer_client.post(reverse("approvals:bulk"), {"action": "x", "selected": selected(req)}).status_code == 400
    )
    assert reviewer_client.get(reverse("approvals:bulk")).status_code == 405
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_the_report_gives_the_real_reason_for_team_rules(client, make_user, sent_runs):
    """A quorum approval waits for others, one already approved is refused as such, and a claimed
    item names its claimer: none of them reads "Already decided"."""
    from workflows import registry
    from workflows.engine import HumanReview, Step, Workflow

    registry.register(
        Workflow(
            name="bulk_quorum",
            steps=[
                Step(
                    name="buy",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, approvals_required=2),
                )
            ],
        )
    )
    try:
        rita = make_user("rita", "resolve_requirement")
        carl = make_user("carl", "resolve_requirement")
        quorum, approved, claimed = (
            Requirement.objects.get(run_id=registry.get(name).run("x").run_id)
            for name in ("bulk_quorum", "bulk_quorum", "data_export")
        )
        services.requirement_resolve(requirement_id=approved.id, user=rita, action="confirm")
        services.requirement_claim(requirement_id=claimed.id, user=carl)
        approved.refresh_from_db()
        claimed.refresh_from_db()
        client.force_login(rita)
        response = client.post("/inbox/bulk/", {"action": "approve", "selected": selected(quorum, approved, claimed)})
        page = response.content.decode()
        assert "Approval recorded; 1 more needed" in page
        assert "Not applied: You already approved this; another person must approve." in page
        assert "Not applied: Claimed by carl" in page
        assert "Already decided" not in page
        assert all(Requirement.objects.get(id=r.id).is_pending for r in (quorum, approved, claimed))
    finally:
        registry._registry.pop("bulk_quorum", None)


def test_the_report_says_separation_of_duties_to_a_run_starter(client, make_user):
    from workflows import registry

    sam = make_user("sam", "resolve_requirement", "start_run")
    req = Requirement.objects.get(run_id=registry.get("payment_release").run("invoice 9", user=sam).run_id)
    client.force_login(sam)
    page = client.post("/inbox/bulk/", {"action": "approve", "selected": selected(req)}).content.decode()
    assert "Refused: Separation of duties: someone else must decide this (you started this run)." in page
    assert Requirement.objects.get(id=req.id).is_pending
