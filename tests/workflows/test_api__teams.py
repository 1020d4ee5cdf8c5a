"""The API of teams: claim, release, reassign, comments, the new requirement fields, sorts and the
claimed filter, quorum and separation of duties through resolve; every refusal's status and code."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


def post(client, url, body=None, *, raw: str | None = None):
    return client.post(url, raw if raw is not None else json.dumps(body or {}), content_type="application/json")


def url(req, action=""):
    return f"/api/v1/requirements/{req.id}" + (f"/{action}" if action else "")


def _flow(name, **review):
    return Workflow(
        name=name,
        steps=[
            Step(name="pay", executor=lambda si: "paid", human_review=HumanReview(requires_confirmation=True, **review))
        ],
    )


@pytest.fixture
def flows(temp_workflow):
    for name, review in {
        "api_team_plain": {},
        "api_team_four_eyes": {"separation_of_duties": True},
        "api_team_quorum": {"approvals_required": 2},
        "api_team_urgent": {"priority": "urgent", "due_in": 7200},
        "api_team_soon": {"due_in": 60},
        "api_team_timed": {"timeout": 600},
    }.items():
        temp_workflow(_flow(name, **review))


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


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def as_bob(alice, bob):
    from django.test import Client

    c = Client()
    c.force_login(bob)
    return c


def test_requirement_json_has_the_team_fields(as_alice, flows):
    req = pending("api_team_urgent")
    body = as_alice.get(url(req)).json()
    assert body["claimed_by"] is None and body["assignees"] == [] and body["groups"] == []
    assert body["priority"] == "urgent" and body["due_at"] is not None
    assert body["approvals"] == [] and body["approvals_needed"] == 1 and body["comments_count"] == 0


def test_claim_then_others_get_409_claimed_on_claim_and_resolve(as_alice, as_bob, flows):
    req = pending("api_team_plain")
    response = post(as_alice, url(req, "claim"))
    assert response.status_code == 200 and response.json()["claimed_by"] == "alice"
    response = post(as_bob, url(req, "claim"))
    assert response.status_code == 409 and response.json()["code"] == "claimed"
    response = post(as_bob, url(req, "resolve"), {"action": "confirm"})
    assert response.status_code == 409 and response.json()["code"] == "claimed"
    response = post(as_bob, url(req, "release"))
    assert response.status_code == 409 and response.json()["code"] == "claimed"
    assert post(as_alice, url(req, "release")).json()["claimed_by"] is None
    response = post(as_alice, url(req, "release"))
    assert response.status_code == 409 and response.json()["code"] == "not_claimed"


def test_claim_with_a_reason_takes_over(as_alice, as_bob, flows):
    req = pending("api_team_plain")
    post(as_alice, url(req, "claim"))
    assert post(as_bob, url(req, "claim"), {"reason": ""}).status_code == 400
    response = post(as_bob, url(req, "claim"), {"reason": "alice is away"})
    assert response.status_code == 200 and response.json()["claimed_by"] == "bob"


def test_claim_errors_401_404_400_and_403(client, as_alice, flows, make_user):
    req = pending("api_team_plain")
    assert post(client.__class__(), url(req, "claim")).status_code == 401
    assert post(as_alice, f"/api/v1/requirements/{uuid.uuid4()}/claim").status_code == 404
    assert post(as_alice, "/api/v1/requirements/not-a-uuid/claim").status_code == 404
    assert post(as_alice, url(req, "claim"), {"whatever": 1}).status_code == 400
    assert post(as_alice, url(req, "claim"), raw="{nope").status_code == 400
    auditor = make_user("audrey", "view_requirement")
    from django.test import Client

    c = Client()
    c.force_login(auditor)
    assert post(c, url(req, "claim")).status_code == 403
    assert as_alice.get(url(req, "claim")).status_code == 405
    assert Requirement.objects.get(id=req.id).claimed_by is None


def test_reassign_to_a_user_or_group_and_its_errors(as_alice, as_bob, flows, make_user):
    req = pending("api_team_plain")
    assert post(as_alice, url(req, "reassign"), {"user": "bob"}).status_code == 403  # not hers to hand on
    post(as_alice, url(req, "claim"))
    assert post(as_alice, url(req, "reassign"), {}).status_code == 400
    assert post(as_alice, url(req, "reassign"), {"user": "bob", "group": "legal"}).status_code == 400
    assert post(as_alice, url(req, "reassign"), {"user": "nobody"}).json()["errors"]["user"] == "No such user."
    assert post(as_alice, url(req, "reassign"), {"group": "nogroup"}).status_code == 400
    make_user("otto")
    assert post(as_alice, url(req, "reassign"), {"user": "otto"}).status_code == 400  # may not resolve
    response = post(as_alice, url(req, "reassign"), {"user": "bob", "note": "yours"})
    assert response.status_code == 200 and response.json()["assignees"] == ["bob"]
    assert as_alice.get(url(req)).status_code == 404  # no longer hers to see
    Group.objects.create(name="legal")
    post(as_bob, url(req, "claim"))
    response = post(as_bob, url(req, "reassign"), {"group": "legal", "note": "contract"})
    assert response.status_code == 200 and response.json()["groups"] == ["legal"]


def test_comments_201_then_listed_and_counted(as_alice, as_bob, flows):
    req = pending("api_team_plain")
    response = post(as_bob, url(req, "comments"), {"text": "<script>x</script> check IBAN"})
    assert response.status_code == 201 and response.json()["user"] == "bob"
    assert post(as_bob, url(req, "comments"), {"text": ""}).status_code == 400
    assert post(as_bob, url(req, "comments"), {"text": 5}).status_code == 400
    assert post(as_bob, url(req, "comments"), {"text": "x" * 5001}).status_code == 400
    listed = as_alice.get(url(req, "comments")).json()["results"]
    assert [c["text"] for c in listed] == ["<script>x</script> check IBAN"]
    assert as_alice.get(url(req)).json()["comments_count"] == 1
    assert as_alice.get(f"/api/v1/requirements/{uuid.uuid4()}/comments").status_code == 404


def test_quorum_200_pending_then_409_already_approved_then_resolved(as_alice, as_bob, flows, make_user):

    req = pending("api_team_quorum")
    response = post(as_bob, url(req, "resolve"), {"action": "confirm", "version": req.version})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "PENDING" and body["approvals_needed"] == 1
    assert [a["user"] for a in body["approvals"]] == ["bob"]
    response = post(as_bob, url(req, "resolve"), {"action": "confirm"})
    assert response.status_code == 409 and response.json()["code"] == "already_approved"
    response = post(as_alice, url(req, "resolve"), {"action": "confirm", "version": req.version})
    assert response.status_code == 200 and response.json()["status"] == "RESOLVED"
    assert response.json()["approvals_needed"] == 0


def test_separation_of_duties_403(as_alice, as_bob, flows, alice):
    req = pending("api_team_four_eyes", user=alice)
    response = post(as_alice, url(req, "resolve"), {"action": "confirm"})
    assert response.status_code == 403 and response.json()["code"] == "separation_of_duties"
    assert Requirement.objects.get(id=req.id).is_pending
    assert post(as_bob, url(req, "resolve"), {"action": "confirm"}).status_code == 200


def test_sorts_and_claimed_filter(as_alice, flows, alice):
    plain, urgent, soon, timed = (
        pending(n) for n in ("api_team_plain", "api_team_urgent", "api_team_soon", "api_team_timed")
    )
    Requirement.objects.filter(id=plain.id).update(created_at=timezone.now() - timedelta(days=1))

    def ids(query):
        response = as_alice.get(f"/api/v1/requirements?{query}")
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids("sort=due")[:3] == [str(soon.id), str(timed.id), str(urgent.id)]
    assert ids("sort=due")[-1] == str(plain.id)  # nothing due: last
    assert ids("sort=priority")[0] == str(urgent.id)
    assert ids("sort=deadline")[0] == str(timed.id)
    assert ids("sort=age")[0] == str(plain.id)
    post(as_alice, url(urgent, "claim"))
    assert ids("claimed=me") == [str(urgent.id)]
    assert str(urgent.id) not in ids("claimed=none")
    assert len(ids("claimed=any")) == 4
    assert as_alice.get("/api/v1/requirements?sort=random").status_code == 400
    assert as_alice.get("/api/v1/requirements?claimed=them").status_code == 400


def test_the_list_costs_a_fixed_number_of_queries(as_alice, flows):
    def count(n_more):
        for _ in range(n_more):
            pending("api_team_plain")
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get("/api/v1/requirements?sort=due").status_code == 200
        return len(queries.captured_queries)

    assert count(2) == count(10)
