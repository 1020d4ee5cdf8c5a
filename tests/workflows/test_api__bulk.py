"""POST /api/v1/requirements/bulk: several decisions, each exactly once through the one resolve
path, with a result per item (done, conflict, invalid, forbidden, not_found)."""

from __future__ import annotations

import json
import uuid

import pytest

from approvals.models import Decision
from workflows import registry, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db

URL = "/api/v1/requirements/bulk"


def post(client, body):
    return client.post(URL, json.dumps(body), content_type="application/json")


def pending_of(name: str) -> Requirement:
    run_id = registry.get(name).run("x").run_id
    return Requirement.objects.get(run_id=run_id, status="PENDING")


@pytest.fixture
def api(client, reviewer):
    client.force_login(reviewer)
    return client


def test_every_item_gets_its_result_in_order(api, reviewer, make_user, temp_workflow):
    make_user("alice")
    temp_workflow(
        Workflow(
            name="bulk_alice",
            steps=[
                Step(
                    name="hers",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, assignees=["alice"]),
                )
            ],
        )
    )
    confirm, draft, error = pending_of("data_export"), pending_of("blog_post"), pending_of("inventory_sync")
    decided, stale, bad = pending_of("data_export"), pending_of("data_export"), pending_of("trip_planner")
    hers = pending_of("bulk_alice")
    services.requirement_resolve(requirement_id=decided.id, user=reviewer, action="confirm")
    response = post(
        api,
        {
            "items": [
                {"id": str(confirm.id), "action": "confirm", "version": confirm.version},
                {"id": str(draft.id), "action": "reject", "data": {"feedback": "shorter"}, "version": 1},
                {"id": str(error.id), "action": "retry"},
                {"id": str(decided.id), "action": "confirm", "version": 1},
                {"id": str(stale.id), "action": "confirm", "version": 7},
                {"id": str(bad.id), "action": "submit", "data": {"values": {"city": "Oslo", "days": 10**22}}},
                {"id": str(bad.id), "action": "confirm"},
                {"id": str(hers.id), "action": "confirm"},
                {"id": str(uuid.uuid4()), "action": "confirm"},
                {"id": "not-a-uuid", "action": "confirm"},
                {"id": str(stale.id), "action": "launch"},
                "nonsense",
            ]
        },
    )
    assert response.status_code == 200
    got = [(r["status"], r["code"]) for r in response.json()["results"]]
    assert got == [
        ("done", "resolved"),
        ("done", "resolved"),
        ("done", "resolved"),
        ("conflict", "already_resolved"),
        ("conflict", "stale_version"),
        ("invalid", "invalid"),
        ("invalid", "invalid"),
        ("not_found", "not_found"),  # not assigned to the caller, who may not inspect it either
        ("not_found", "not_found"),
        ("not_found", "not_found"),
        ("invalid", "invalid"),
        ("invalid", "invalid"),
    ]
    results = response.json()["results"]
    assert results[0]["id"] == str(confirm.id) and results[0]["errors"] == {}
    assert results[5]["errors"] == {"days": "Must be at most 365."}
    assert "action" in results[6]["errors"] and "action" in results[10]["errors"]
    for req, status in ((confirm, "RESOLVED"), (draft, "RESOLVED"), (error, "RESOLVED"), (stale, "PENDING")):
        req.refresh_from_db()
        assert req.status == status
    for req in (bad, hers):
        req.refresh_from_db()
        assert req.status == "PENDING"
    draft.refresh_from_db()
    assert draft.resolution == {"action": "reject", "feedback": "shorter"}
    # One audit row per decision, the earlier one included: nothing decided twice.
    assert Decision.objects.filter(requirement_id__in=[confirm.id, draft.id, error.id, decided.id]).count() == 4


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": "x"}, "items"),
        ({"items": [{"id": "x", "action": "confirm"}] * 101}, "items"),
        ({"items": [], "extra": 1}, "extra"),
    ],
)
def test_a_malformed_body_is_400_and_decides_nothing(api, body, field):
    req = pending_of("data_export")
    if body.get("items") == []:
        body["items"] = []
    response = post(api, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_an_item_the_caller_sees_but_may_not_decide_is_forbidden(client, make_user, temp_workflow):
    make_user("alice")
    auditor = make_user("aude", "resolve_requirement", "view_requirement")
    temp_workflow(
        Workflow(
            name="bulk_alice",
            steps=[
                Step(
                    name="hers",
                    executor=lambda si: "ok",
                    human_review=HumanReview(requires_confirmation=True, assignees=["alice"]),
                )
            ],
        )
    )
    hers, open_to_all = pending_of("bulk_alice"), pending_of("data_export")
    client.force_login(auditor)
    response = post(
        client, {"items": [{"id": str(hers.id), "action": "confirm"}, {"id": str(open_to_all.id), "action": "confirm"}]}
    )
    assert [r["status"] for r in response.json()["results"]] == ["forbidden", "done"]
    hers.refresh_from_db()
    assert hers.status == "PENDING"


def test_anonymous_is_401(client):
    assert post(client, {"items": [{"id": str(uuid.uuid4()), "action": "confirm"}]}).status_code == 401


def test_get_is_not_allowed(api):
    assert api.get(URL).status_code == 405
