"""Teams racing on PostgreSQL: threads with their own connections claim, approve and reassign the
same requirement at once. Exactly one wins where one may; a quorum resolves exactly once."""

from __future__ import annotations

import pytest
from django.db import connection

from approvals.models import Decision
from tests.services.test_services__races import in_threads, paused
from workflows import services, teams
from workflows.engine import ConflictError
from workflows.models import Requirement, RequirementApproval, RunEvent, WorkflowRun

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql"


@pytest.fixture
def people(make_user):
    return [make_user(name, "resolve_requirement") for name in ("rita", "rudi", "rosa")]


def test_two_reviewers_claim_at_once_exactly_one_holds_it(people, sync_worker, make_probe):
    for _ in range(8):
        req = paused("test_svc_gated", make_probe())
        results = in_threads(
            *(
                lambda user=user, req=req: services.requirement_claim(requirement_id=req.id, user=user)
                for user in people[:2]
            )
        )
        won = [r for r in results if isinstance(r, Requirement)]
        lost = [r for r in results if isinstance(r, teams.TeamConflict)]
        assert len(won) == 1 and len(lost) == 1 and lost[0].code == "claimed", results
        req.refresh_from_db()
        assert req.claimed_by_id == won[0].claimed_by_id


def test_quorum_approvals_at_once_resolve_exactly_once(people, sync_worker, make_probe):
    for _ in range(6):
        probe = make_probe()
        req = paused("test_svc_quorum", probe)
        results = in_threads(
            *(
                lambda user=user, req=req: services.requirement_resolve(
                    requirement_id=req.id, user=user, action="confirm"
                )
                for user in people
            )
        )
        # Two approvals complete it; the third comes after it is resolved (or is its first two).
        assert sum(isinstance(r, Requirement) for r in results) == 2, results
        assert all(isinstance(r, (Requirement, ConflictError)) for r in results), results
        req.refresh_from_db()
        assert req.status == "RESOLVED" and req.version == 2
        assert RequirementApproval.objects.filter(requirement=req).count() == 2
        assert Decision.objects.filter(requirement=req).count() == 1
        run = WorkflowRun.objects.get(id=req.run_id)
        assert run.status == "COMPLETED"
        assert probe.ends("b") == 1 and probe.ends("c") == 1
        assert RunEvent.objects.filter(run=run, event="WorkflowCompleted").count() == 1


def test_reassign_while_someone_decides_one_order_or_the_other(people, sync_worker, make_probe, make_user):
    manager = make_user("mona", "resolve_requirement", "reassign_requirement")
    outcomes = set()
    for _ in range(8):
        req = paused("test_svc_gated", make_probe())
        decided, reassigned = in_threads(
            lambda req=req: services.requirement_resolve(requirement_id=req.id, user=people[0], action="confirm"),
            lambda req=req: services.requirement_reassign(requirement_id=req.id, user=manager, to_user=people[1]),
        )
        req.refresh_from_db()
        if isinstance(decided, Requirement):
            # Decided first: the reassignment found it decided (or went through just before it
            # was decided... which cannot be: rita would no longer see it).
            assert isinstance(reassigned, ConflictError), reassigned
            assert req.status == "RESOLVED" and req.resolved_by_name == "rita"
            outcomes.add("decided")
        else:
            assert isinstance(decided, Requirement.DoesNotExist), decided  # it is rudi's now
            assert isinstance(reassigned, Requirement) and req.is_pending
            assert list(req.assignees.values_list("username", flat=True)) == ["rudi"]
            outcomes.add("reassigned")
        assert Decision.objects.filter(requirement=req).count() == (1 if req.status == "RESOLVED" else 0)
