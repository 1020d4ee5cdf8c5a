"""PostgreSQL's short path for a worker's continuation: claimed in one statement (with the run's
requirements), finished in one, the statements prepared once per connection.

Whatever does not fit it (a pending requirement, a cancel, a refusal) takes the whole path, and
a claim taken ahead and not executed is given back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from tests.services import flows
from tests.services.test_services__races import in_threads
from workflows import registry, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.store import DjangoStore, LeaseLost, sql

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql"


def paused(probe) -> tuple[WorkflowRun, Requirement]:
    out = registry.get("test_svc_gated").run("in", additional_data=probe.extra())
    assert out.is_paused
    return WorkflowRun.objects.get(id=out.run_id), Requirement.objects.get(run_id=out.run_id)


def decided(probe, reviewer) -> tuple[WorkflowRun, Requirement]:
    run, req = paused(probe)
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="confirm", version=req.version)
    run.refresh_from_db()
    return run, req


def test_a_decided_run_is_claimed_checkpointed_and_finished_in_one_statement_each(sent_runs, probe, reviewer):
    run, req = decided(probe, reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert services.run_advance(run_id=run.id) == "COMPLETED"
    # b's completion is stored before c runs (a completed step never runs again), then the end;
    # before it, whether a webhook listens to the end of runs (then the end takes the whole path)
    # (A connection's first read of the endpoints also subscribes it to their changes: once.)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("LISTEN ")]
    claim, checkpoint, listeners, finish = statements
    assert "notifications_webhookendpoint" in listeners
    assert "set_config" in claim and "synchronous_commit" in claim
    assert "FOR NO KEY UPDATE" in checkpoint and "jsonb_populate_recordset" in checkpoint
    assert "UPDATE" in finish and "jsonb_populate_recordset" in finish
    after = WorkflowRun.objects.get(id=run.id)
    assert (after.status, after.version, after.lease_until, after.content) == (
        "COMPLETED",
        run.version + 2,
        None,
        "c done",
    )
    assert after.finished_at is not None and after.state["seq"] == RunEvent.objects.filter(run=run).count()
    assert list(RunEvent.objects.filter(run=run).order_by("seq").values_list("event", "step_name"))[-6:] == [
        ("StepContinued", "b"),
        ("StepStarted", "b"),
        ("StepCompleted", "b"),
        ("StepStarted", "c"),
        ("StepCompleted", "c"),
        ("WorkflowCompleted", ""),
    ]
    assert list(StepRun.objects.filter(run=run).order_by("id").values_list("name", "status", "output")) == [
        ("a", "COMPLETED", {"step_name": "a", "content": "a done", "success": True}),
        ("b", "COMPLETED", {"step_name": "b", "content": "b done", "success": True}),
        ("c", "COMPLETED", {"step_name": "c", "content": "c done", "success": True}),
    ]
    req.refresh_from_db()
    assert (req.status, req.resolution["action"]) == ("RESOLVED", "confirm")
    assert probe.steps() == ["a", "b", "c"]
    assert services.run_advance(run_id=run.id) is None  # a duplicate continuation changes nothing
    assert WorkflowRun.objects.get(id=run.id).version == run.version + 2


@override_settings(HITL_ONE_STATEMENT=False)
def test_with_the_switch_off_a_continuation_takes_the_general_path(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    assert DjangoStore().claim_ahead(str(run.id), now=timezone.now()) is None
    with CaptureQueriesContext(connection) as queries:
        assert services.run_advance(run_id=run.id) == "COMPLETED"
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("set_config" in sql or "jsonb_populate_recordset" in sql for sql in statements)
    assert len(statements) > 10  # what the short path saves
    after = WorkflowRun.objects.get(id=run.id)
    assert (after.status, after.version, after.lease_until, after.content) == (
        "COMPLETED",
        run.version + 2,
        None,
        "c done",
    )
    assert list(StepRun.objects.filter(run=run).order_by("id").values_list("name", "status")) == [
        ("a", "COMPLETED"),
        ("b", "COMPLETED"),
        ("c", "COMPLETED"),
    ]
    assert probe.steps() == ["a", "b", "c"]


def test_runs_that_are_not_plain_are_not_claimed_ahead(sent_runs, probe, reviewer):
    waiting, _ = paused(probe)  # its requirement is still pending
    done, _ = decided(probe, reviewer)
    services.run_advance(run_id=done.id)
    cancelled, _ = decided(probe, reviewer)
    services.run_cancel(run_id=cancelled.id)
    store = DjangoStore()
    for run in (waiting, done, cancelled):
        before = WorkflowRun.objects.values().get(id=run.id)
        assert store.claim_ahead(str(run.id), now=timezone.now()) is None
        assert WorkflowRun.objects.values().get(id=run.id) == before
    for nothing in ("5f0e0b7e-0000-0000-0000-000000000000", "not-a-uuid"):
        assert store.claim_ahead(nothing, now=timezone.now()) is None
    with transaction.atomic():  # its commit must be its own
        assert store.claim_ahead(str(decided(probe, reviewer)[0].id), now=timezone.now()) is None


def test_a_claim_taken_ahead_and_not_executed_is_given_back(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    store = DjangoStore()
    state = store.claim_ahead(str(run.id), now=timezone.now())
    assert state.status == "PAUSED" and state.version == run.version + 1  # as claim() will check it
    assert [(r.step_name, r.status) for r in state.requirements] == [("b", "RESOLVED")]
    claimed = WorkflowRun.objects.get(id=run.id)
    assert claimed.status == "RUNNING" and claimed.lease_until > run.lease_until
    store.release()
    back = WorkflowRun.objects.get(id=run.id)
    assert (back.status, back.lease_until, back.version) == ("PAUSED", run.lease_until, run.version + 2)
    assert services.run_advance(run_id=run.id) == "COMPLETED"
    assert probe.steps() == ["a", "b", "c"]


def test_a_run_claimed_ahead_for_a_workflow_this_worker_lacks_is_given_back(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    registry._registry.pop("test_svc_gated")  # no public unregister: tests only
    try:
        assert services.run_advance(run_id=run.id) is None
    finally:
        registry.register(flows.gated)
    after = WorkflowRun.objects.get(id=run.id)
    assert (after.status, after.lease_until) == ("PAUSED", run.lease_until)  # the sweeper sends it again
    assert services.run_advance(run_id=run.id) == "COMPLETED"


def test_a_refused_claim_ahead_is_given_back(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    registry.register(Workflow(name="test_svc_gated", steps=[Step(name="a", executor=flows.probe)]))
    try:
        assert services.run_advance(run_id=run.id) is None
    finally:
        registry.register(flows.gated)
    after = WorkflowRun.objects.get(id=run.id)
    assert after.status == "PAUSED" and "changed since run" in after.error
    assert RunEvent.objects.filter(run=run, event="DefinitionChanged").count() == 1


def test_two_workers_claiming_ahead_at_once_exactly_one_wins(sent_runs, make_probe, reviewer):
    for _ in range(8):
        run, _ = decided(make_probe(), reviewer)
        stores = [DjangoStore(), DjangoStore()]
        claims = in_threads(*(lambda s=s, run=run: s.claim_ahead(str(run.id), now=timezone.now()) for s in stores))
        assert sum(c is not None for c in claims) == 1, claims
        assert WorkflowRun.objects.get(id=run.id).version == run.version + 1
        for store in stores:
            store.release()


def test_the_claims_commit_setting_stays_in_its_transaction(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    store = DjangoStore()
    assert store.claim_ahead(str(run.id), now=timezone.now()) is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)  # the finish and everything else still wait for the disk
    store.release()


def test_a_worker_that_lost_its_run_writes_nothing_in_its_one_statements(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    events = RunEvent.objects.filter(run=run).count()

    class Sweeper(DjangoStore):  # the run is handed to another worker while this one executes it
        def checkpoint(self, state):
            WorkflowRun.objects.filter(id=run.id).update(version=state.version + 5)
            super().checkpoint(state)

    with pytest.raises(LeaseLost):  # at the checkpoint before c, and again at the end
        registry.get("test_svc_gated").advance(str(run.id), store=Sweeper())
    assert RunEvent.objects.filter(run=run).count() == events
    assert not StepRun.objects.filter(run=run, name="b").exists()
    assert probe.steps() == ["a", "b"]  # c never started
    assert WorkflowRun.objects.get(id=run.id).status == "RUNNING"  # the other worker's now


def _prepared() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH %%'")
        return cursor.fetchone()[0]


def test_the_hot_statements_are_prepared_once_per_connection(sent_runs, make_probe, reviewer):
    connection.close()
    for _ in range(3):
        run, _ = decided(make_probe(), reviewer)
        services.run_advance(run_id=run.id)
    assert _prepared() == 3  # the claim, the checkpoint and the finish, each once
    for _ in range(3):
        assert WorkflowRun.objects.filter(status="COMPLETED").count() == 3
    with connection.cursor() as cursor:  # the ORM's own queries are never prepared
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%COUNT(*)%%'")
        assert cursor.fetchone()[0] == 0
    connection.close()
    with override_settings(HITL_PREPARED_STATEMENTS=False):
        run, _ = decided(make_probe(), reviewer)
        assert services.run_advance(run_id=run.id) == "COMPLETED"
        assert _prepared() == 0


T = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_write_fenced_writes_values_as_the_orm_reads_them():
    run = WorkflowRun.objects.create(workflow_name="w", fingerprint="f")
    names = ("run", "seq", "event", "path", "step_name", "data", "memo", "created_at")
    events = [
        (run.id, 1, "E", "1", "é ✓", {"nested": [1, None, "x"], "t": "2030"}, None, T),
        (str(run.id), 2, "F", "", "", "just a string", {"m": 1}, T.replace(microsecond=1)),
        (run.id, 3, "G", "", "", [], 0, T),
    ]
    written = sql.write_fenced(
        WorkflowRun,
        {"error": "x", "finished_at": T},
        returning=("version", "cancel_requested_by"),
        inserts=[
            (RunEvent, [dict(zip(names, e, strict=True)) for e in events]),
            (StepRun, []),  # nothing: left out
        ],
        id=run.id,
        version=0,
    )
    assert written == [(0, "")]
    stored = list(
        RunEvent.objects.filter(run=run)
        .order_by("seq")
        .values_list("seq", "event", "path", "step_name", "data", "memo", "created_at")
    )
    assert stored == [(s, e, p, n, d, m, t) for _, s, e, p, n, d, m, t in events]
    assert RunEvent.objects.filter(run=run, memo__isnull=True).count() == 1  # None is SQL NULL, as the ORM
    run.refresh_from_db()
    assert (run.error, run.finished_at) == ("x", T)


def test_write_fenced_inserts_nothing_when_the_update_changes_no_row():
    run = WorkflowRun.objects.create(workflow_name="w", fingerprint="f", version=3)
    written = sql.write_fenced(
        WorkflowRun,
        {"error": "late"},
        returning=("version",),
        inserts=[(RunEvent, [{"run": run.id, "seq": 1, "event": "E", "created_at": T}])],
        id=run.id,
        version=2,  # another execution's version: this one lost the run
    )
    assert written == []
    assert not RunEvent.objects.filter(run=run).exists()
    assert WorkflowRun.objects.get(id=run.id).error == ""


@pytest.fixture(autouse=True)
def _gated_flow_has_one_gate():
    """These tests lean on test_svc_gated: a, b (confirmation), c."""
    gated = registry.get("test_svc_gated")
    assert [s.name for s in gated.steps] == ["a", "b", "c"]
    assert gated.steps[1].human_review == HumanReview(requires_confirmation=True)


def test_a_run_id_in_another_form_is_claimed_ahead_and_executed(sent_runs, probe, reviewer):
    run, _ = decided(probe, reviewer)
    assert services.run_advance(run_id=run.id.hex.upper()) == "COMPLETED"
    assert WorkflowRun.objects.get(id=run.id).version == run.version + 2  # claimed once, finished once
