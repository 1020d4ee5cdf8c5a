"""Services on the real database (SQLite in `make test`, PostgreSQL in `make test-services`)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from workflows import registry, services
from workflows.engine import ConflictError, DecisionError, ExpiredError, HumanReview, Step, ValidationError, Workflow
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.runtime import dispatch

pytestmark = pytest.mark.django_db

CALLS = []


def _export(step_input):
    CALLS.append(step_input.input)
    return f"exported {step_input.input}"


gated = registry.register(
    Workflow(
        name="test_gated",
        steps=[
            Step(name="prepare", executor=lambda si: "prepared"),
            Step(name="export", executor=_export, human_review=HumanReview(requires_confirmation=True)),
        ],
    )
)
timed = registry.register(
    Workflow(
        name="test_timed",
        steps=[
            Step(
                name="export",
                executor=_export,
                human_review=HumanReview(requires_confirmation=True, timeout=60, on_timeout="skip"),
            ),
            Step(name="after", executor=lambda si: f"after {si.previous_step_content}"),
        ],
    )
)
assigned = registry.register(
    Workflow(
        name="test_assigned",
        steps=[
            Step(
                name="export",
                executor=_export,
                human_review=HumanReview(requires_confirmation=True, groups=["finance"], assignees=["carol"]),
            ),
        ],
    )
)


@pytest.fixture
def sync_dispatch(django_capture_on_commit_callbacks):
    """Continuations run as a worker would, once the test "commits" (see ``commit``)."""
    sent = []

    def backend(run_id):
        sent.append(run_id)
        services.run_advance(run_id=run_id)

    dispatch.set_backend(backend)
    yield sent
    dispatch.set_backend(None)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit(): ...`` runs what the block scheduled on commit, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _paused(workflow=gated, input="acme"):
    CALLS.clear()
    out = workflow.run(input)
    assert out.is_paused
    return Requirement.objects.get(run_id=out.run_id, status="PENDING")


def test_run_start_schedules_execution_after_commit(reviewer, sent_runs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.run_start(workflow_name="test_gated", input="acme", user=reviewer)
    assert run.status == "PENDING" and run.created_by == reviewer
    assert sent_runs == []  # nothing leaves before commit
    for callback in callbacks:
        callback()
    assert sent_runs == [str(run.id)]


def test_run_advance_executes_until_the_gate_and_twice_is_harmless(sync_dispatch, commit):
    with commit():
        run = services.run_start(workflow_name="test_gated", input="acme")
    # The backend ran on commit; running it again (a duplicate delivery) changes nothing.
    run.refresh_from_db()
    assert run.status == "PAUSED" and run.pause_kind == "step" and run.paused_step_name == "export"
    assert services.run_advance(run_id=run.id) is None
    assert StepRun.objects.filter(run=run, name="prepare").count() == 1
    assert Requirement.objects.filter(run=run, status="PENDING").count() == 1


def test_resolve_applies_once_and_continues(reviewer, sync_dispatch, commit):
    req = _paused()
    with commit():
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    req.refresh_from_db()
    assert req.status == "RESOLVED" and req.resolved_by == reviewer and req.resolved_by_name == "rita"
    run = req.run
    run.refresh_from_db()
    assert run.status == "COMPLETED" and run.content == "exported acme"
    assert CALLS == ["acme"]
    # A second decision, on the current or the old version, is a conflict and changes nothing.
    for version in (req.version, req.version - 1):
        with pytest.raises(ConflictError):
            services.requirement_resolve(requirement_id=req.id, user=reviewer, action="reject", version=version)
    req.refresh_from_db()
    assert req.resolution == {"action": "confirm"} and CALLS == ["acme"]


def test_stale_version_is_refused(reviewer, sync_dispatch):
    req = _paused()
    with pytest.raises(ConflictError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version + 5)
    assert Requirement.objects.get(id=req.id).status == "PENDING"
    assert sync_dispatch == []


def test_bad_decisions_change_nothing(reviewer, sync_dispatch):
    req = _paused()
    with pytest.raises(DecisionError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="select", version=req.version)
    with pytest.raises(ValidationError):
        services.requirement_resolve(
            requirement_id=req.id, user=reviewer, action="reject", data={"feedback": 42}, version=req.version
        )
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_resolve(requirement_id="not-a-uuid", user=reviewer, action="confirm")
    req.refresh_from_db()
    assert req.status == "PENDING" and req.version == 1 and sync_dispatch == []


def test_reject_skips_the_step_and_never_runs_it(reviewer, sync_dispatch, commit):
    req = _paused()
    with commit():
        services.requirement_resolve(
            requirement_id=req.id, user=reviewer, action="reject", data={"feedback": "not today"}, version=req.version
        )
    run = WorkflowRun.objects.get(id=req.run_id)
    assert run.status == "COMPLETED" and run.content == "prepared" and CALLS == []
    assert StepRun.objects.get(run=run, name="export").status == "SKIPPED"


def test_late_decision_is_expired_and_the_timeout_decides(reviewer, sync_dispatch, commit):
    req = _paused(timed)
    late = req.timeout_at + timedelta(seconds=1)
    with pytest.raises(ExpiredError), commit():
        services.requirement_resolve(
            requirement_id=req.id, user=reviewer, action="confirm", version=req.version, now=late
        )
    req.refresh_from_db()
    assert req.status == "EXPIRED" and req.resolution["action"] == "timed_out" and req.resolved_by_name == "system"
    run = WorkflowRun.objects.get(id=req.run_id)
    assert run.status == "COMPLETED" and run.content == "after None" and CALLS == []  # on_timeout=skip


def test_decision_before_deadline_wins_over_the_sweeper(reviewer, sync_dispatch, commit):
    req = _paused(timed)
    with commit():
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert services.requirements_expire_due(now=req.timeout_at + timedelta(minutes=5)) == 0
    req.refresh_from_db()
    assert req.status == "RESOLVED" and CALLS == ["acme"]


def test_sweeper_fires_due_timeouts_by_itself(sync_dispatch, commit):
    req = _paused(timed)
    assert services.requirements_expire_due(now=timezone.now()) == 0  # not yet due
    with commit():
        assert services.requirements_expire_due(now=req.timeout_at) == 1
    run = WorkflowRun.objects.get(id=req.run_id)
    assert run.status == "COMPLETED"
    assert RunEvent.objects.filter(run=run, event="RequirementTimedOut").count() == 1


def test_assignment_limits_who_sees_and_resolves(reviewer, make_user, sync_dispatch, commit):
    req = _paused(assigned)
    with pytest.raises(Requirement.DoesNotExist):  # rita has the permission but is not assigned
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    fred = make_user("fred", groups=["finance"])
    finance = fred.groups.get()
    # The group did not exist when the requirement was created; assign it now as an admin would.
    req.groups.add(finance)
    with commit():
        services.requirement_resolve(requirement_id=req.id, user=fred, action="confirm", version=req.version)
    assert WorkflowRun.objects.get(id=req.run_id).status == "COMPLETED"


def test_cancel_paused_run_cancels_its_requirements(reviewer):
    req = _paused()
    run = services.run_cancel(run_id=req.run_id, user=reviewer)
    assert run.status == "CANCELLED"
    req.refresh_from_db()
    assert req.status == "CANCELLED"
    with pytest.raises(ConflictError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_resolvers_race_and_exactly_one_wins(reviewer, sent_runs):
    """Real concurrency on PostgreSQL: two threads decide the same requirement at once."""
    assert connection.vendor == "postgresql"
    req = _paused()
    barrier = threading.Barrier(2)
    results = []

    def decide(action):
        try:
            barrier.wait(5)
            services.requirement_resolve(requirement_id=req.id, user=reviewer, action=action, version=req.version)
            results.append(("ok", action))
        except ConflictError:
            results.append(("conflict", action))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("confirm", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r[0] for r in results) == ["conflict", "ok"]
    winner = next(a for status, a in results if status == "ok")
    req.refresh_from_db()
    assert req.status == "RESOLVED" and req.resolution["action"] == winner and req.version == 2
    assert sent_runs == [str(req.run_id)]  # one continuation scheduled
