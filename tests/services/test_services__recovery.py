"""Leases, crash recovery, lost continuations, cancellation and definition changes, in-process
(SQLite in `make test`, PostgreSQL in `make test-services`). Real Celery workers: test_celery__worker.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.services import flows
from tests.services.conftest import wait_for
from workflows import registry, services
from workflows.engine import ConflictError, HumanReview, Parallel, Step, Workflow
from workflows.engine.events import Event
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.runtime import dispatch
from workflows.store import DjangoStore, LeaseLost, heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


class Broker:
    """A dispatch backend that records what it sends, and fails while "down"."""

    def __init__(self):
        self.sent: list[str] = []
        self.is_down = False

    def __call__(self, run_id):
        if self.is_down:
            raise ConnectionError("broker unreachable")
        self.sent.append(run_id)


@pytest.fixture
def broker():
    b = Broker()
    dispatch.set_backend(b)
    yield b
    dispatch.set_backend(None)


class Crash(BaseException):  # noqa: N818 - a process dying, not an error
    pass


class CrashingStore(DjangoStore):
    """Dies (writes nothing more) at its ``crash_at``-th checkpoint, as a killed worker would."""

    def __init__(self, crash_at: int):
        super().__init__()
        self.crash_at, self.checkpoints = crash_at, 0

    def checkpoint(self, state):
        self.checkpoints += 1
        if self.checkpoints >= self.crash_at:
            raise Crash()
        super().checkpoint(state)

    def finish(self, state):
        self.release()  # its process is gone: no heartbeat renews the lease any more
        raise Crash()


def start(name: str, probe, **extra) -> WorkflowRun:
    """A run, created as the web does, not executed yet (the caller's backend gets it)."""
    return services.run_start(workflow_name=name, input="in", additional_data=probe.extra(**extra))


def advance(run) -> WorkflowRun:
    services.run_advance(run_id=run.id)
    run.refresh_from_db()
    return run


def pending(run) -> Requirement:
    return Requirement.objects.get(run=run, status="PENDING")


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


# -- duplicates and leases ------------------------------------------------------------------------
def test_duplicate_and_late_continuations_are_no_ops(broker, probe, reviewer):
    run = start("test_svc_gated", probe)
    assert broker.sent == [str(run.id)]
    assert advance(run).status == "PAUSED"
    for _ in range(3):  # the same message delivered again, while paused and after the end
        assert services.run_advance(run_id=run.id) is None
    req = pending(run)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert broker.sent == [str(run.id)] * 2
    assert advance(run).status == "COMPLETED"
    assert services.run_advance(run_id=run.id) is None
    assert services.run_advance(run_id="not-a-uuid") is None
    assert [probe.ends(s) for s in "abc"] == [1, 1, 1]
    assert StepRun.objects.filter(run=run).count() == 3


def test_a_live_lease_keeps_others_out_and_a_worker_presumed_dead_writes_nothing(broker, probe):
    run = start("test_svc_gated", probe)
    first = DjangoStore()
    state = first.claim(str(run.id), now=timezone.now())
    with pytest.raises(ConflictError):  # another worker, while the lease lives
        DjangoStore().claim(str(run.id), now=timezone.now())
    run.refresh_from_db()
    assert run.status == "RUNNING" and run.lease_until > timezone.now()

    # The lease runs out (the first worker looks dead): the sweeper hands the run over.
    assert services.runs_recover(now=run.lease_until + timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == "PENDING" and run.version == state.version + 1
    assert broker.sent == [str(run.id)] * 2
    events = RunEvent.objects.filter(run=run).count()

    # The first worker was alive after all: its writes are refused, nothing changes.
    state.record(Event(event="Zombie", run_id=str(run.id), created_at=timezone.now()))
    with pytest.raises(LeaseLost):
        first.checkpoint(state)
    with pytest.raises(LeaseLost):
        first.finish(state)
    run.refresh_from_db()
    assert run.status == "PENDING" and RunEvent.objects.filter(run=run).count() == events

    assert advance(run).status == "PAUSED"  # the new owner goes on
    assert probe.ends("a") == 1


def test_the_heartbeat_keeps_a_long_step_from_being_taken_over(broker, probe, settings):
    settings.HITL_LEASE_SECONDS = 1.0  # renewed every 0.33 s while the step sleeps 2.5 s
    run = start("test_svc_gated", probe, sleep=2.5)
    worker = threading.Thread(target=services.run_advance, kwargs={"run_id": run.id})
    worker.start()
    try:
        wait_for(lambda: probe.starts("a"), timeout=10, what="step a to start")
        while worker.is_alive():  # a sweeper running all along never hands the run over
            assert services.runs_recover() == 0
            worker.join(0.1)
    finally:
        worker.join(10)
    run.refresh_from_db()
    assert run.status == "PAUSED" and probe.starts("a") == 1 and broker.sent == [str(run.id)]


def test_the_heartbeat_lets_go_of_runs_it_no_longer_needs_to_hold(broker, probe, settings):
    settings.HITL_LEASE_SECONDS = 0.3
    run = start("test_svc_gated", probe)
    advance(run)  # paused: its execution released its lease
    assert str(run.id) not in heartbeat.held()
    heartbeat.hold(str(run.id), run.version)  # as if an execution had never said it ended
    wait_for(lambda: str(run.id) not in heartbeat.held(), timeout=5, what="the heartbeat to drop it")
    run.refresh_from_db()
    assert run.status == "PAUSED" and run.lease_until is None  # and it renewed nothing


# -- crash recovery ---------------------------------------------------------------------------------
def test_a_worker_that_died_mid_run_is_recovered_from_its_last_checkpoint(broker, probe, reviewer):
    run = start("test_svc_chain", probe)
    workflow = registry.get("test_svc_chain")
    with pytest.raises(Crash):  # s01..s03 checkpointed; it dies at the checkpoint of s04
        for _ in workflow._advance(CrashingStore(crash_at=4), str(run.id)):
            pass
    run.refresh_from_db()
    assert run.status == "RUNNING" and probe.steps() == ["s01", "s02", "s03", "s04"]
    assert services.runs_recover() == 0  # its lease still runs

    assert services.runs_recover(now=run.lease_until + timedelta(seconds=1)) == 1
    assert broker.sent == [str(run.id)] * 2
    run = advance(run)
    assert run.status == "PAUSED" and pending(run).step_name == "s05"
    req = pending(run)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert advance(run).status == "COMPLETED"

    # What was checkpointed never ran again; s04 (its checkpoint never committed) ran twice.
    assert {s: probe.ends(s) for s in ("s01", "s02", "s03", "s04", "s05", "s10")} == {
        "s01": 1,
        "s02": 1,
        "s03": 1,
        "s04": 2,
        "s05": 1,
        "s10": 1,
    }
    completed = list(RunEvent.objects.filter(run=run, event="StepCompleted").values_list("step_name", flat=True))
    assert completed == [f"s{i:02d}" for i in range(1, 11)]
    assert StepRun.objects.filter(run=run).count() == 10


def test_a_lost_continuation_is_sent_again_less_and_less_often(broker, probe, reviewer):
    broker.is_down = True
    run = start("test_svc_gated", probe)  # stored, although nothing could be sent
    run.refresh_from_db()
    assert run.status == "PENDING" and broker.sent == []
    assert services.runs_recover() == 0  # not due yet: it may still be on its way
    first = run.lease_until + timedelta(seconds=1)
    assert services.runs_recover(now=first) == 1  # tried, failed again (logged)
    run.refresh_from_db()
    assert run.lease_until >= first + timedelta(seconds=30)  # next try waits longer

    broker.is_down = False
    assert services.runs_recover(now=first) == 0
    assert services.runs_recover(now=run.lease_until + timedelta(seconds=1)) == 1
    assert broker.sent == [str(run.id)]
    assert advance(run).status == "PAUSED"

    # A decision while the broker is down is stored, and its run is sent again later.
    broker.is_down = True
    req = pending(run)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    req.refresh_from_db()
    assert req.status == "RESOLVED" and req.resolved_by == reviewer
    broker.is_down = False
    run.refresh_from_db()
    assert run.status == "PAUSED" and services.runs_recover(now=run.lease_until + timedelta(seconds=1)) == 1
    assert advance(run).status == "COMPLETED"
    assert [probe.ends(s) for s in "abc"] == [1, 1, 1]


def test_a_paused_run_with_nothing_decided_is_not_sent_again(broker, probe):
    run = start("test_svc_gated", probe)
    assert advance(run).status == "PAUSED" and run.lease_until is None
    assert services.runs_recover(now=later(3600)) == 0
    assert broker.sent == [str(run.id)]


def test_a_decision_made_while_the_run_executes_is_taken_up_by_the_same_worker(broker, probe, reviewer):
    run = start("test_svc_parallel", probe, hold=["y2"])
    worker = threading.Thread(target=services.run_advance, kwargs={"run_id": run.id})
    worker.start()
    try:
        wait_for(lambda: probe.starts("y2"), timeout=10, what="y2 to start")
        req = pending(run)  # branch x's confirmation, committed at y1's checkpoint
        assert req.step_name == "x"
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
        assert WorkflowRun.objects.get(id=run.id).status == "RUNNING"
        probe.release("y2")
    finally:
        worker.join(15)
    run.refresh_from_db()
    assert run.status == "COMPLETED"
    assert broker.sent == [str(run.id)]  # nothing was sent: the worker went on by itself
    assert [probe.ends(s) for s in ("x", "y1", "y2", "z")] == [1, 1, 1, 1]


# -- cancellation -----------------------------------------------------------------------------------
def test_cancel_a_paused_run(broker, probe, reviewer):
    run = start("test_svc_gated", probe)
    advance(run)
    req = pending(run)
    run = services.run_cancel(run_id=run.id, user=reviewer)
    assert run.status == "CANCELLED" and run.content == "Run cancelled by rita"
    req.refresh_from_db()
    assert req.status == "CANCELLED" and req.resolved_by_name == "rita"
    assert RunEvent.objects.filter(run=run, event="WorkflowCancelled").count() == 1
    with pytest.raises(ConflictError):
        services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert services.run_advance(run_id=run.id) is None
    assert probe.starts("b") == 0


def test_cancel_a_running_run_finishes_its_step_and_starts_nothing_after(broker, probe, reviewer):
    run = start("test_svc_gated", probe, hold=["a"])
    worker = threading.Thread(target=services.run_advance, kwargs={"run_id": run.id})
    worker.start()
    try:
        wait_for(lambda: probe.starts("a"), timeout=10, what="step a to start")
        run = services.run_cancel(run_id=run.id, user=reviewer)
        assert run.status == "RUNNING" and run.cancel_requested_by == "rita"
        probe.release("a")
    finally:
        worker.join(15)
    run.refresh_from_db()
    assert run.status == "CANCELLED" and run.content == "Run cancelled by rita"
    assert probe.ends("a") == 1 and probe.starts("b") == 0
    assert not Requirement.objects.filter(run=run).exists()  # b's gate was never reached
    assert StepRun.objects.get(run=run).name == "a"


def test_a_cancel_that_lands_just_before_the_run_pauses_cancels_the_pause(broker, probe):
    class CancelledMeanwhile(DjangoStore):
        def finish(self, state):  # the cancel arrives after the last checkpoint, before the end
            WorkflowRun.objects.filter(id=state.run_id).update(cancel_requested_by="olga")
            super().finish(state)

    run = start("test_svc_gated", probe)
    for _ in registry.get("test_svc_gated")._advance(CancelledMeanwhile(), str(run.id)):
        pass
    run.refresh_from_db()
    assert run.status == "CANCELLED" and run.content == "Run cancelled by olga"
    req = Requirement.objects.get(run=run)
    assert req.status == "CANCELLED" and req.step_name == "b"
    assert list(RunEvent.objects.filter(run=run).values_list("event", flat=True))[-2:] == [
        "WorkflowPaused",
        "WorkflowCancelled",
    ]


def test_a_requirement_created_by_an_execution_that_then_fails_is_cancelled(broker, probe, redefine):
    def fail(step_input):
        raise RuntimeError("boom")

    redefine(
        Workflow(
            name="test_svc_parallel",
            steps=[
                Parallel(
                    Step(name="x", executor=flows.probe, human_review=HumanReview(requires_confirmation=True)),
                    Step(name="y", executor=fail),
                    name="both",
                )
            ],
        )
    )
    run = start("test_svc_parallel", probe)
    assert advance(run).status == "ERROR"
    # x's gate was created (in memory) before y failed: it is written cancelled, not left pending.
    assert list(Requirement.objects.filter(run=run).values_list("step_name", "status")) == [("x", "CANCELLED")]


def test_cancel_a_run_whose_worker_died(broker, probe, reviewer):
    # Cancelled while its worker (dead, lease still running) held it: the sweeper finishes it.
    run = start("test_svc_chain", probe)
    with pytest.raises(Crash):
        for _ in registry.get("test_svc_chain")._advance(CrashingStore(crash_at=2), str(run.id)):
            pass
    run = services.run_cancel(run_id=run.id, user=reviewer)
    assert run.status == "RUNNING" and run.cancel_requested_by == "rita"
    run.refresh_from_db()
    assert services.runs_recover(now=run.lease_until + timedelta(seconds=1)) == 0  # cancelled, not sent
    run.refresh_from_db()
    assert run.status == "CANCELLED" and broker.sent == [str(run.id)]

    # Once its lease ran out, a cancel is immediate.
    other = start("test_svc_chain", probe)
    with pytest.raises(Crash):
        for _ in registry.get("test_svc_chain")._advance(CrashingStore(crash_at=2), str(other.id)):
            pass
    WorkflowRun.objects.filter(id=other.id).update(lease_until=later(-1))
    assert services.run_cancel(run_id=other.id, user=reviewer).status == "CANCELLED"
    assert services.run_advance(run_id=other.id) is None
    assert probe.ends("s03") == 0


# -- definition changes -----------------------------------------------------------------------------
@pytest.fixture
def redefine():
    """Register another definition under a test workflow's name; the original comes back after."""
    services._definitions_tried.clear()
    yield registry.register
    services._definitions_tried.clear()
    for workflow in flows.ALL:
        registry.register(workflow)


def test_resuming_under_a_changed_definition_where_the_path_still_exists(broker, probe, reviewer, redefine):
    run = start("test_svc_gated", probe)
    advance(run)
    redefine(
        Workflow(
            name="test_svc_gated",
            steps=[
                Step(name="a", executor=flows.probe),
                Step(name="b", executor=flows.probe, human_review=HumanReview(requires_confirmation=True)),
                Step(name="c", executor=flows.probe),
                Step(name="d", executor=flows.probe),  # added
            ],
        )
    )
    req = pending(run)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    run = advance(run)
    assert run.status == "COMPLETED" and run.error == ""
    assert probe.steps() == ["a", "b", "c", "d"]


def test_a_changed_definition_without_the_paused_step_stops_with_a_clear_error_then_recovers(
    broker, probe, reviewer, redefine
):
    run = start("test_svc_gated", probe)
    advance(run)
    redefine(Workflow(name="test_svc_gated", steps=[Step(name="a", executor=flows.probe)]))
    req = pending(run)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    assert advance(run).status == "PAUSED"
    assert "changed since run" in run.error and "Restore the definition or cancel the run" in run.error
    assert RunEvent.objects.filter(run=run, event="DefinitionChanged").count() == 1
    req.refresh_from_db()
    assert req.status == "RESOLVED"  # the decision is kept
    sent = len(broker.sent)
    swept = services.sweep(now=later(3600))  # (with the notifications' and claims' own counts)
    assert (swept["expired"], swept["recovered"], swept["claims_released"]) == (0, 0, 0)  # not sent again and again
    assert len(broker.sent) == sent

    redefine(flows.gated)  # the definition is restored (a deploy): the next sweep sends it again
    assert services.sweep()["recovered"] == 1
    run = advance(run)
    assert run.status == "COMPLETED" and run.error == ""
    assert probe.steps() == ["a", "b", "c"]
