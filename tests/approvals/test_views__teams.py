"""Teams on the reviewer's pages: Claim, Release, Take over, Reassign, comments, four-eyes and
quorum on the decision page; the inbox's Sort select and what each row says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from workflows import services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import AssignmentChange, Requirement

pytestmark = pytest.mark.django_db


def url(req, name="decide"):
    return reverse(f"approvals:{name}", args=[req.id])


@pytest.fixture
def flows(sent_runs):
    from workflows import registry

    registry.discover()
    made = {}
    for name, review in {
        "page_team_plain": {"due_in": 3600, "priority": "urgent"},
        "page_team_four_eyes": {"separation_of_duties": True},
        "page_team_quorum": {"approvals_required": 2},
    }.items():
        made[name] = registry.register(
            Workflow(
                name=name,
                steps=[
                    Step(
                        name="pay",
                        executor=lambda si: "paid",
                        human_review=HumanReview(
                            requires_confirmation=True, confirmation_message="Pay the invoice?", **review
                        ),
                    )
                ],
            )
        )
    yield made
    for name in made:
        registry._registry.pop(name, None)


def pending(name, user=None):
    from workflows import registry

    run_id = registry.get(name).run("x", user=user).run_id
    return Requirement.objects.get(run_id=run_id, status="PENDING")


@pytest.fixture
def alice(make_user):
    return make_user("alice", "resolve_requirement", "start_run")


@pytest.fixture
def bob(make_user):
    return make_user("bob", "resolve_requirement")


def client_of(user):
    c = Client()
    c.force_login(user)
    return c


def test_claim_then_the_other_sees_who_and_no_form(flows, alice, bob):
    req = pending("page_team_plain")
    a, b = client_of(alice), client_of(bob)
    page = a.get(url(req)).content.decode()
    assert ">Claim</button>" in page and ">Add comment</button>" in page and 'for="field-comment">Comment<' in page
    response = a.post(url(req, "claim"))
    assert response.status_code == 302 and response["Location"] == url(req)
    page = b.get(url(req)).content.decode()
    assert "Claimed by <strong>alice</strong>" in page and 'value="confirm"' not in page
    assert ">Take over</button>" in page and ">Claim</button>" not in page
    # a hand-made POST is refused all the same, and says why
    response = b.post(url(req), {"action": "confirm", "version": req.version})
    assert response.status_code == 409 and "Claimed by alice" in response.content.decode()
    assert Requirement.objects.get(id=req.id).is_pending
    page = a.get(url(req)).content.decode()
    assert ">Release</button>" in page and 'value="confirm"' in page
    a.post(url(req, "release"))
    assert Requirement.objects.get(id=req.id).claimed_by is None


def test_take_over_with_a_reason(flows, alice, bob):
    req = pending("page_team_plain")
    client_of(alice).post(url(req, "claim"))
    b = client_of(bob)
    b.post(url(req, "claim"), {"reason": ""})
    assert Requirement.objects.get(id=req.id).claimed_by == alice  # no reason, no take-over
    b.post(url(req, "claim"), {"reason": "alice is on holiday"})
    assert Requirement.objects.get(id=req.id).claimed_by == bob
    page = b.get(url(req)).content.decode()
    assert "Take over</strong> by bob" in page and "alice is on holiday" in page


def test_reassign_from_the_page(flows, alice, bob):
    req = pending("page_team_plain")
    a = client_of(alice)
    a.post(url(req, "claim"))
    response = a.post(url(req, "reassign"), {"to": "nobody", "note": "x"})
    assert "No user named" in a.get(url(req)).content.decode()
    response = a.post(url(req, "reassign"), {"to": "bob", "note": "bob knows them"})
    assert response.status_code == 302 and response["Location"] == reverse("approvals:inbox")
    page = client_of(bob).get(url(req)).content.decode()
    assert "Reassign</strong> by alice" in page and "to bob" in page and "bob knows them" in page


def test_comments_are_escaped_and_shown(flows, alice, bob):
    req = pending("page_team_plain")
    client_of(bob).post(url(req, "comment"), {"comment": "<script>alert(1)</script> check"})
    page = client_of(alice).get(url(req)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; check" in page and "<script>alert(1)" not in page
    assert Requirement.objects.get(id=req.id).is_pending  # a comment never decides


def test_the_page_says_feedback_only_goes_with_reject(flows, alice):
    req = pending("page_team_plain")
    page = client_of(alice).get(url(req)).content.decode()
    assert "Sent only with Reject" in page


def test_four_eyes_the_starter_sees_why_and_is_refused(flows, alice, bob):
    req = pending("page_team_four_eyes", user=alice)
    a = client_of(alice)
    page = a.get(url(req)).content.decode()
    assert "Separation of duties" in page and 'value="confirm"' not in page
    response = a.post(url(req), {"action": "confirm", "version": req.version})
    assert response.status_code == 403 and "you started this run" in response.content.decode()
    assert Requirement.objects.get(id=req.id).is_pending


def test_quorum_first_approval_waits_and_says_so(flows, alice, bob):
    req = pending("page_team_quorum")
    b = client_of(bob)
    response = b.post(url(req), {"action": "confirm", "version": req.version}, follow=True)
    page = response.content.decode()
    assert "1 more needed" in page
    assert Requirement.objects.get(id=req.id).is_pending
    client_of(alice).post(url(req), {"action": "confirm", "version": req.version})
    assert Requirement.objects.get(id=req.id).status == "RESOLVED"
    assert AssignmentChange.objects.filter(requirement=req, action="approve").count() == 2


def test_a_quorum_approver_has_nothing_more_to_do_there(flows, alice, bob):
    """Once bob approved, the item no longer waits for him: it leaves his inbox and its count, his
    page says so and offers no Confirm (a second one would be refused), and he is sent on to
    what else waits for him. Alice still has it."""
    req = pending("page_team_quorum")
    other = pending("page_team_plain")
    b = client_of(bob)
    response = b.post(url(req), {"action": "confirm", "version": req.version})
    assert response.status_code == 302 and response.url.startswith(url(other))  # on to the next item
    inbox = b.get(reverse("approvals:inbox")).content.decode()
    assert f"req-{req.id}" not in inbox and f"req-{other.id}" in inbox
    page = b.get(url(req)).content.decode()
    assert "You approved this; 1 more approval needed from other people." in page
    assert ">Confirm</button>" not in page
    assert f"req-{req.id}" in client_of(alice).get(reverse("approvals:inbox")).content.decode()
    page = client_of(alice).get(url(req)).content.decode()
    assert ">Confirm</button>" in page and "You approved this" not in page


def test_inbox_sort_select_kept_in_the_url_and_rows_say_who_and_what(flows, alice, bob):
    urgent = pending("page_team_plain")
    quorum = pending("page_team_quorum")
    Requirement.objects.filter(id=urgent.id).update(due_at=timezone.now() - timedelta(minutes=5))
    services.requirement_claim(requirement_id=quorum.id, user=bob)
    page = client_of(alice).get(reverse("approvals:inbox")).content.decode()
    assert 'for="filter-sort">Sort<' in page and '<option value="due" selected>' in page
    row = page[page.index(f"req-{urgent.id}") :]
    assert "Pay the invoice?" in row and "Overdue" in row and "Urgent" in row
    row = page[page.index(f"req-{quorum.id}") :]
    assert "Claimed by <strong>bob</strong>" in row and "2 approvals needed" in row
    page = client_of(alice).get(reverse("approvals:inbox") + "?sort=age").content.decode()
    assert '<option value="age" selected>' in page
    assert page.index(f"req-{urgent.id}") < page.index(f"req-{quorum.id}")  # oldest first
    page = client_of(alice).get(reverse("approvals:inbox") + "?sort=bogus").content.decode()
    assert '<option value="due" selected>' in page


def test_team_posts_need_a_login_and_post(flows, alice):
    req = pending("page_team_plain")
    assert Client().post(url(req, "claim")).status_code == 302  # to the login page
    assert client_of(alice).get(url(req, "claim")).status_code == 405


def test_the_run_page_shows_claims_reassignments_and_approvals(flows, alice, bob, make_user):
    req = pending("page_team_quorum")
    services.requirement_claim(requirement_id=req.id, user=bob)
    services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")
    inspector = make_user("ivan", "view_workflowrun", "view_requirement")
    page = client_of(inspector).get(f"/runs/{req.run_id}/").content.decode()
    section = page[page.index("Claims, approvals and reassignments") :]
    assert "<strong>Claim</strong> of pay by bob" in section and "<strong>Approve</strong> of pay by bob" in section
    assert "1 more needed" in section
