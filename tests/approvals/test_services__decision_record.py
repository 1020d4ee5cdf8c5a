"""The audit row each decision writes: who, what, the hash of what was shown, the diff of edits."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import transaction

from approvals.models import Decision
from approvals.services import canonical_json, content_hash, decision_record
from workflows import services
from workflows.engine import HumanReview, Step, Workflow
from workflows.engine.errors import ConflictError, ValidationError
from workflows.engine.jsonvalues import edit_diff
from workflows.models import Requirement

from .conftest import pending

pytestmark = pytest.mark.django_db


def test_hook_is_registered_once():
    assert services.resolution_hooks.count(decision_record) == 1


def test_decision_row_content(reviewer, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    shown = dict(req.payload)
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(
            requirement_id=req.id, user=reviewer, action="reject", data={"feedback": "no"}, version=req.version
        )
    decision = Decision.objects.get()
    assert decision.requirement_id == req.id and decision.run_id == req.run_id
    assert decision.user == reviewer and decision.username == "rita"
    assert decision.action == "reject"
    assert decision.data == {"feedback": "no"}
    expected = hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert decision.shown_hash == expected
    assert decision.diff == ""
    assert decision.created_at is not None


def test_edit_records_a_unified_diff(reviewer, sent_runs, django_capture_on_commit_callbacks):
    req = pending("blog_post", "spring")
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(
            requirement_id=req.id,
            user=reviewer,
            action="edit",
            data={"output": "Draft about summer"},
            version=req.version,
        )
    decision = Decision.objects.get()
    assert decision.data == {"output": "Draft about summer"}
    assert decision.diff.splitlines() == [
        "--- shown output",
        "+++ edited output",
        "@@ -1 +1 @@",
        "-Draft about spring",
        "+Draft about summer",
    ]


def test_structured_outputs_are_diffed_as_pretty_json():
    diff = edit_diff({"b": 1, "a": [1, 2]}, {"a": [1, 2, 3], "b": 1})
    assert "+    3" in diff and "-    2" in diff and "+    2," in diff


def test_canonical_json_is_stable_and_unicode():
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert content_hash({"b": 1, "a": 2}) == content_hash({"a": 2, "b": 1})


def test_failed_decisions_write_no_row(reviewer):
    req = pending("data_export")
    with pytest.raises(ConflictError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version + 1)
    with pytest.raises(ValidationError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="reject", data={"feedback": 5})
    assert Decision.objects.count() == 0


def test_row_is_written_in_the_resolving_transaction(reviewer):
    req = pending("data_export")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
        assert Decision.objects.count() == 1
        raise RuntimeError("roll back")
    assert Decision.objects.count() == 0
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_rows_are_immutable(reviewer, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    decision = Decision.objects.get()
    decision.action = "reject"
    with pytest.raises(ValueError, match="immutable"):
        decision.save()


def test_system_decision_has_no_user(db):
    wf = Workflow(
        name="audit_system",
        steps=[Step(name="s", executor=lambda si: 1, human_review=HumanReview(requires_confirmation=True))],
    )
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    decision = decision_record(requirement=req, user=None, resolution={"action": "confirm"}, shown={"schema": []})
    assert decision.user is None and decision.username == "system"
