"""Real races on PostgreSQL: threads with their own connections decide, time out, sweep and
execute the same things at once. Exactly one wins; the losers change nothing."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from approvals.models import Decision
from workflows import registry, services
from workflows.engine import ConflictError, ExpiredError
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql"


@pytest.fixture
def reviewers(make_user):
    return [make_user(name, "resolve_requirement") for name in ("rita", "rudi")]


def in_threads(*calls, timeout: float = 20.0) -> list:
    """Run the calls at the same instant, each in a thread with its own connection; return what
    each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(5)
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in time"
    return results


def paused(name: str, probe) -> Requirement:
    out = registry.get(name).run("in", additional_data=probe.extra())
    assert out.is_paused
    return Requirement.objects.get(run_id=out.run_id, status="PENDING")


def test_two_people_decide_at_once_exactly_one_wins(reviewers, sync_worker, make_probe):
    for _ in range(8):
        probe = make_probe()
        req = paused("test_svc_gated", probe)

        def decide(user, action, req=req):
            return lambda: services.requirement_resolve(
                requirement_id=req.id, user=user, action=action, version=req.version
            )

        results = in_threads(decide(reviewers[0], "confirm"), decide(reviewers[1], "reject"))
        won = [r for r in results if isinstance(r, Requirement)]
        lost = [r for r in results if isinstance(r, ConflictError)]
        assert len(won) == 1 and len(lost) == 1, results
        req.refresh_from_db()
        assert req.status == "RESOLVED" and req.version == 2 and req.resolved_by == won[0].resolved_by
        assert Decision.objects.filter(requirement=req).count() == 1
        run = WorkflowRun.objects.get(id=req.run_id)
        assert run.status == "COMPLETED"  # continued once, by the winner's commit
        assert probe.ends("b") == (1 if req.resolution["action"] == "confirm" else 0)
        assert probe.ends("c") == 1
        assert RunEvent.objects.filter(run=run, event="WorkflowCompleted").count() == 1


def test_a_decision_racing_the_timeout_exactly_one_wins(reviewers, sync_worker, make_probe):
    outcomes = set()
    for i in range(12):
        probe = make_probe()
        req = paused("test_svc_timed", probe)
        deadline = timezone.now() + timedelta(seconds=0.15)
        Requirement.objects.filter(id=req.id).update(timeout_at=deadline)
        jitter = (i % 4 - 1.5) * 0.004 + random.uniform(-0.002, 0.002)  # around the deadline, both ways

        def decide(req=req, deadline=deadline, jitter=jitter):
            time.sleep(max(0.0, (deadline - timezone.now()).total_seconds() + jitter))
            return services.requirement_resolve(
                requirement_id=req.id, user=reviewers[0], action="confirm", version=req.version
            )

        def sweep(deadline=deadline):
            time.sleep(max(0.0, (deadline - timezone.now()).total_seconds()))
            return services.requirements_expire_due()

        decided, swept = in_threads(decide, sweep)
        req.refresh_from_db()
        run = WorkflowRun.objects.get(id=req.run_id)
        assert req.version == 2 and run.status == "COMPLETED"
        if isinstance(decided, Requirement):  # before the deadline: the person won
            assert req.status == "RESOLVED" and swept == 0
            assert Decision.objects.filter(requirement=req).count() == 1 and probe.ends("b") == 1
            outcomes.add("person")
        else:  # at or after it: the timeout decided, the person got a clear "expired"
            assert isinstance(decided, ExpiredError), decided
            assert req.status == "EXPIRED" and req.resolved_by_name == "system"
            assert req.resolution == {"action": "timed_out", "on_timeout": "skip"}
            # The timeout's audit row only (the system's), none for the refused decision.
            audited = list(Decision.objects.filter(requirement=req).values_list("username", "action"))
            assert audited == [("system", "timed_out")] and probe.ends("b") == 0
            outcomes.add("timeout")
        assert probe.ends("c") == 1
        assert RunEvent.objects.filter(run=run, event="WorkflowCompleted").count() == 1
    assert outcomes  # which side wins depends on timing; the invariants hold either way


def test_two_workers_advance_the_same_run_at_once(sent_runs, make_probe):
    for _ in range(5):
        probe = make_probe()
        run = services.run_start(workflow_name="test_svc_chain", input="in", additional_data=probe.extra())
        results = in_threads(
            lambda run=run: services.run_advance(run_id=run.id), lambda run=run: services.run_advance(run_id=run.id)
        )
        assert sum(1 for r in results if r == "PAUSED") == 1, results
        assert sum(1 for r in results if r is None) == 1
        run.refresh_from_db()
        assert run.status == "PAUSED"
        assert [probe.ends(f"s{i:02d}") for i in range(1, 6)] == [1, 1, 1, 1, 0]
        assert StepRun.objects.filter(run=run).count() == 4


def test_sweepers_running_at_once_expire_each_requirement_once(sent_runs, probe):
    workflow = registry.get("test_svc_timed")
    runs = [workflow.run("in", additional_data=probe.extra()).run_id for _ in range(40)]
    Requirement.objects.filter(run_id__in=runs).update(timeout_at=timezone.now() - timedelta(seconds=1))
    counts = in_threads(*(services.requirements_expire_due for _ in range(4)))
    assert sum(counts) == 40, counts
    reqs = Requirement.objects.filter(run_id__in=runs)
    assert set(reqs.values_list("status", "version", "resolved_by_name")) == {("EXPIRED", 2, "system")}
    assert sorted(sent_runs) == sorted(runs)  # each run continued once


def test_decisions_claims_and_sweeps_on_many_runs_do_not_deadlock(reviewers, probe, sent_runs):
    """Everything that locks runs and requirements at once: a consistent lock order means no
    deadlock (PostgreSQL would abort one of them) and every change lands once."""
    workflow = registry.get("test_svc_timed")
    runs = [workflow.run("in", additional_data=probe.extra()).run_id for _ in range(30)]
    reqs = list(Requirement.objects.filter(run_id__in=runs))
    half = {r.id for r in reqs[::2]}
    Requirement.objects.filter(id__in=half).update(timeout_at=timezone.now() - timedelta(seconds=1))

    def decide_all(user):
        out = []
        for req in reqs:
            try:
                services.requirement_resolve(requirement_id=req.id, user=user, action="confirm", version=1)
                out.append("ok")
            except ConflictError as exc:  # ExpiredError included
                out.append(type(exc).__name__)
        return out

    def advance_all():
        return [services.run_advance(run_id=run_id) for run_id in runs]

    results = in_threads(
        lambda: decide_all(reviewers[0]),
        lambda: decide_all(reviewers[1]),
        services.requirements_expire_due,
        advance_all,
        advance_all,
    )
    assert not any(isinstance(r, BaseException) for r in results), results
    assert results[0].count("ok") + results[1].count("ok") == len([r for r in reqs if r.id not in half])
    for req in Requirement.objects.filter(run_id__in=runs):
        assert req.version == 2
        assert req.status == ("EXPIRED" if req.id in half else "RESOLVED")
        # One audit row each: the person's decision, or the timeout's (the system's).
        audited = list(Decision.objects.filter(requirement=req).values_list("username", flat=True))
        assert len(audited) == 1 and (audited[0] == "system") == (req.id in half)
