"""Every column the store writes holds the value meant for it, on each write path: read back
field by field, with a distinct value in each, so two columns swapped would show.

The short paths (SQLite's DB-API checkpoint; PostgreSQL's one statement) and the general ORM path
(``HITL_ONE_STATEMENT`` off, in a transaction) are both run: on SQLite here, on PostgreSQL in
``make test-services``."""

from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from workflows.engine.events import Event
from workflows.engine.requirements import CANCELLED
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.engine.state import RunState
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.store import DjangoStore

pytestmark = pytest.mark.django_db(transaction=True)

T = [datetime(2030, 1, 2, 3, 4, 5, 100 + i, tzinfo=UTC) for i in range(8)]


def event(state: RunState, n: int) -> Event:
    return Event(
        event=f"event-{n}",
        run_id=state.run_id,
        path=f"path-{n}",
        step_name=f"step-name-{n}",
        data={"data": n},
        memo={f"memo-{n}": n},
        created_at=T[n],
    )


def step_run(n: int) -> dict:
    return {
        "key": f"key-{n}",
        "path": f"path-{n}",
        "name": f"name-{n}",
        "kind": f"kind-{n}",
        "iteration": 10 + n,
        "attempt": 20 + n,
        "status": f"status-{n}",
        "output": {"output": n},
        "error": f"error-{n}",
        "started_at": T[n],
        "finished_at": T[n + 1],
    }


def requirement(state: RunState) -> EngineRequirement:
    return EngineRequirement(
        run_id=state.run_id,
        key="req-key",
        path="req-path",
        step_name="req-step-name",
        kind="confirmation",
        message="req-message",
        payload={"payload": 1},
        iteration=3,
        attempt=4,
        status=CANCELLED,
        resolved_by="req-resolver",
        resolved_at=T[5],
        timeout_at=T[6],
        on_timeout="approve",
        version=5,
        assignees=["no-such-user"],
        batch="req-batch",
        created_at=T[4],
        seq=6,
        team={
            "priority": "high",
            "separation_of_duties": True,
            "approvals_required": 2,
            "approvals_per_group": {"group-name": 1},
        },
        due_at=T[3],
    )


@pytest.fixture(params=["short path", "general path"])
def written(request, settings):
    """How each write goes: the short path, or the general one (switch off, in a transaction).
    Checks that a write took the short path if asked and ``short_path`` (it has one here)."""
    general = request.param == "general path"
    settings.HITL_ONE_STATEMENT = not general

    def write(do, *, short_path: bool):
        with CaptureQueriesContext(connection) as queries, transaction.atomic() if general else nullcontext():
            do()
        one_statement = [q for q in queries.captured_queries if "jsonb_populate_recordset" in q["sql"]]
        if general or not short_path:
            assert queries.captured_queries and not one_statement
        elif connection.vendor == "postgresql":
            assert len(one_statement) == 1
        else:
            assert queries.captured_queries == []  # straight to the DB-API connection

    return write


def test_each_column_holds_its_own_value(written, django_user_model):
    creator = django_user_model.objects.create_user(username="creator-name")
    state = RunState.new(
        workflow_name="workflow-name",
        fingerprint="fingerprint",
        input={"input": 1},
        additional_data={"additional": 2},
        created_by="creator-name",
        now=T[0],
    )
    state.status = WorkflowRun.Status.RUNNING
    store = DjangoStore()
    store.insert(state)
    run = WorkflowRun.objects.get(id=state.run_id)
    assert (run.workflow_name, run.fingerprint, run.status, run.input, run.additional_data) == (
        "workflow-name",
        "fingerprint",
        "RUNNING",
        {"input": 1},
        {"additional": 2},
    )
    assert (run.created_by, run.created_by_name, run.created_at, run.version) == (creator, "creator-name", T[0], 0)

    state.record(event(state, 1))
    state.new_step_runs.append(step_run(1))
    written(lambda: store.checkpoint(state), short_path=True)
    req = requirement(state)
    state.add_requirement(req)
    written(lambda: store.checkpoint(state), short_path=False)  # requirements: the general path
    state.record(event(state, 2))
    state.new_step_runs.append(step_run(2))
    state.status, state.content, state.error = WorkflowRun.Status.COMPLETED, {"content": 1}, "run-error"
    # Not what a completed run carries, but what the store must write where it belongs all the same.
    state.pause_kind, state.paused_step_name, state.paused_step_path = "pause-kind", "paused-name", "paused-path"
    written(lambda: store.finish(state), short_path=connection.vendor == "postgresql")

    events = RunEvent.objects.filter(run_id=state.run_id).order_by("seq")
    assert [(e.seq, e.event, e.path, e.step_name, e.data, e.memo, e.created_at) for e in events] == [
        (n, f"event-{n}", f"path-{n}", f"step-name-{n}", {"data": n}, {f"memo-{n}": n}, T[n]) for n in (1, 2)
    ]
    step_runs = StepRun.objects.filter(run_id=state.run_id).order_by("key")
    assert [{name: getattr(s, name) for name in step_run(1)} | {"run_id": str(s.run_id)} for s in step_runs] == [
        step_run(n) | {"run_id": state.run_id} for n in (1, 2)
    ]

    row = Requirement.objects.get(id=req.id)
    assert {
        name: getattr(row, name)
        for name in (
            "key",
            "path",
            "step_name",
            "kind",
            "message",
            "payload",
            "iteration",
            "attempt",
            "status",
            "resolved_by_name",
            "resolved_at",
            "timeout_at",
            "on_timeout",
            "version",
            "batch",
            "created_at",
            "seq",
            "due_at",
            "workflow_name",
            "priority",
            "separation_of_duties",
            "approvals_required",
            "approvals_per_group",
            "is_assigned",
            "unknown_assignment",
            "resolution",
            "resolved_by",
            "due_sort",
            "deadline_sort",
        )
    } == {
        "key": "req-key",
        "path": "req-path",
        "step_name": "req-step-name",
        "kind": "confirmation",
        "message": "req-message",
        "payload": {"payload": 1},
        "iteration": 3,
        "attempt": 4,
        "status": CANCELLED,
        "resolved_by_name": "req-resolver",
        "resolved_at": T[5],
        "timeout_at": T[6],
        "on_timeout": "approve",
        "version": 5,
        "batch": "req-batch",
        "created_at": T[4],
        "seq": 6,
        "due_at": T[3],
        "workflow_name": "workflow-name",
        "priority": "high",
        "separation_of_duties": True,
        "approvals_required": 2,
        "approvals_per_group": {"group-name": 1},
        "is_assigned": True,
        "unknown_assignment": {"assignees": ["no-such-user"]},
        "resolution": None,
        "resolved_by": None,
        "due_sort": T[3],
        "deadline_sort": T[6],
    }
    assert row.priority_rank == Requirement.PRIORITY_RANKS["high"] != Requirement.PRIORITY_RANKS["normal"]

    run.refresh_from_db()
    assert (run.status, run.content, run.error, run.fingerprint, run.version, run.lease_until) == (
        "COMPLETED",
        {"content": 1},
        "run-error",
        "fingerprint",
        1,
        None,
    )
    assert (run.pause_kind, run.paused_step_name, run.paused_step_path) == ("pause-kind", "paused-name", "paused-path")
    assert run.state == state.snapshot() and run.state["seq"] == 2 and run.finished_at is not None
