"""``Workflow(durability="pause")`` on the Django store: a run writes the same rows whatever its
length, and a crash runs again only the plain steps since the last stored point, never a tool."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workflows.engine import ScriptedAgent, Step, ToolCall, Workflow, tool
from workflows.models import RunEvent, StepRun, WorkflowRun
from workflows.store import DjangoStore

pytestmark = pytest.mark.django_db


class CountingStore(DjangoStore):
    def __init__(self):
        super().__init__()
        self.checkpoints = 0

    def checkpoint(self, state):
        self.checkpoints += 1
        super().checkpoint(state)


def _writes(n: int, durability: str) -> tuple[int, int]:
    """(checkpoints, statements through Django's cursors) of an n-step run."""
    store = CountingStore()
    wf = Workflow(
        name=f"durable_{durability}_{n}",
        steps=[Step(name=f"s{i}", executor=lambda si: "x") for i in range(n)],
        durability=durability,
        store=store,
    )
    with CaptureQueriesContext(connection) as queries:
        out = wf.run("go")
    assert out.status == "COMPLETED"
    assert StepRun.objects.filter(run_id=out.run_id).count() == n
    assert RunEvent.objects.filter(run_id=out.run_id, event="StepCompleted").count() == n
    return store.checkpoints, len(queries)


def test_a_pause_durability_run_writes_the_same_whatever_its_length():
    (short_checkpoints, short), (long_checkpoints, long) = _writes(10, "pause"), _writes(100, "pause")
    assert short_checkpoints == long_checkpoints == 0
    assert short == long <= 12
    assert _writes(10, "step")[0] == 9  # the default: one before each next step


class Crash(BaseException):  # noqa: N818 - a process dying, not an error
    pass


class DyingStore(DjangoStore):
    """Writes nothing more once the process "died" (its end never reaches the database)."""

    def finish(self, state):
        self.release()  # no heartbeat renews the lease any more
        raise Crash()


def test_a_crash_runs_again_the_plain_steps_since_the_last_stored_point_never_the_tool():
    ran = []
    dying = {"s5": True}

    def step(step_input):
        ran.append(step_input.step_name)
        if dying.pop(step_input.step_name, False):
            raise Crash()  # the process dies while s5 runs
        return step_input.step_name

    @tool
    def charge(amount: int) -> str:
        ran.append("charge")
        return f"charged {amount}"

    script = [ToolCall("charge", {"amount": 5}, id="c1"), "paid"]

    def workflow(store):
        return Workflow(
            name="durable_crash",
            steps=[
                Step(name="s1", executor=step),
                Step(name="s2", executor=step),
                Step(name="pay", agent=ScriptedAgent("bot", tools=[charge], script=script)),
                Step(name="s4", executor=step),
                Step(name="s5", executor=step),
            ],
            store=store,
            durability="pause",
        )

    with pytest.raises(Crash):
        workflow(DyingStore()).run("go")
    run = WorkflowRun.objects.get()
    assert run.status == "RUNNING"
    # The last stored point: before the agent's second turn, with the tool's result.
    assert list(StepRun.objects.filter(run=run).values_list("name", flat=True)) == ["s1", "s2"]

    WorkflowRun.objects.filter(id=run.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    state = workflow(DjangoStore()).advance(str(run.id))  # as a worker does once the lease ran out
    assert state.status == "COMPLETED"
    # s1, s2 and the tool ran once; s4 and s5 (plain steps after the last stored point) twice.
    assert ran == ["s1", "s2", "charge", "s4", "s5", "s4", "s5"]
    assert list(StepRun.objects.filter(run=run).values_list("name", flat=True)) == ["s1", "s2", "pay", "s4", "s5"]
    completed = RunEvent.objects.filter(run=run, event="StepCompleted").values_list("step_name", flat=True)
    assert list(completed) == ["s1", "s2", "pay", "s4", "s5"]
