"""``Workflow(durability=...)``: "step" stores what each step did before anything runs after it;
"pause" stores only at pauses, before effects that must not repeat (tools, agents' turns) and at
the end, with the same events and step runs in the end."""

from __future__ import annotations

import pytest

from workflows.engine import (
    DefinitionError,
    HumanReview,
    MemoryStore,
    RunStatus,
    ScriptedAgent,
    Step,
    ToolCall,
    Workflow,
    keys,
    tool,
)

from .helpers import only


class CountingStore(MemoryStore):
    """Counts the checkpoints written during executions (and what each held)."""

    def __init__(self):
        super().__init__()
        self.checkpoints: list[list[str]] = []

    def insert(self, state):
        self.run_id = state.run_id
        super().insert(state)

    def checkpoint(self, state):
        self.checkpoints.append([e.step_name for e in state.new_events if e.event == "StepCompleted"])
        super().checkpoint(state)


def chain(n: int, *, durability: str, store, gate_at: int | None = None) -> Workflow:
    def step(step_input):
        return f"{step_input.step_name} done"

    steps = [
        Step(
            name=f"s{i}",
            executor=step,
            human_review=HumanReview(requires_confirmation=True) if i == gate_at else None,
        )
        for i in range(n)
    ]
    return Workflow("durable", steps, store=store, durability=durability)


def test_durability_is_step_unless_said_and_checked_when_defined():
    assert Workflow("wf", [Step(name="a", executor=lambda si: 1)]).durability == "step"
    assert Workflow("wf", [Step(name="a", executor=lambda si: 1)], durability="pause").durability == "pause"
    with pytest.raises(DefinitionError, match="durability must be one of 'step', 'pause', not 'never'"):
        Workflow("wf", [Step(name="a", executor=lambda si: 1)], durability="never")


@pytest.mark.parametrize("n", [10, 100])
def test_pause_writes_no_checkpoint_between_plain_steps(n):
    store = CountingStore()
    out = chain(n, durability="pause", store=store).run("go")
    assert out.status == RunStatus.COMPLETED and len(out.step_results) == n
    assert store.checkpoints == []  # only the row at the start and the end were written
    completed = [e for e in store.events[out.run_id] if e["event"] == "StepCompleted"]
    assert len(completed) == n and len(store.step_runs[out.run_id]) == n  # all there in the end


def test_step_writes_a_checkpoint_before_each_next_step():
    store = CountingStore()
    out = chain(10, durability="step", store=store).run("go")
    assert out.status == RunStatus.COMPLETED
    assert store.checkpoints == [[f"s{i}"] for i in range(9)]  # s9's completion goes with the end


def test_pause_stores_at_the_pause_and_the_run_continues_the_same():
    store = CountingStore()
    wf = chain(6, durability="pause", store=store, gate_at=3)
    out = wf.run("go")
    assert out.is_paused and store.checkpoints == []
    assert [r.content for r in wf.get_run_output(out.run_id).step_results] == ["s0 done", "s1 done", "s2 done"]
    only(out.steps_requiring_confirmation).confirm()
    done = wf.continue_run(out)
    assert done.status == RunStatus.COMPLETED and len(done.step_results) == 6
    assert store.checkpoints == []


def test_pause_stores_before_a_tool_runs_and_its_result_before_anything_after_it():
    store = CountingStore()
    seen = {}

    def stored_steps():
        return [e["step_name"] for e in store.events[store.run_id] if e["event"] == "StepCompleted"]

    @tool
    def charge(amount: int) -> str:
        seen["tool"] = stored_steps()  # what a crash in the tool would leave behind
        return f"charged {amount}"

    def after(step_input):
        memo = store.load(store.run_id).memo  # what a recovery would read
        seen["after"] = next(v["results"] for k, v in memo.items() if k.partition(":")[0] == keys.AGENT)
        return "after"

    agent = ScriptedAgent("bot", tools=[charge], script=[ToolCall("charge", {"amount": 5}, id="c1"), "charged"])
    wf = Workflow(
        "tools",
        [
            Step(name="before", executor=lambda si: "before"),
            Step(name="pay", agent=agent),
            Step(name="after", executor=after),
            Step(name="last", executor=lambda si: "last"),
        ],
        store=store,
        durability="pause",
    )
    out = wf.run("go")
    assert out.status == RunStatus.COMPLETED and out.content == "last"
    assert seen["tool"] == ["before"]  # stored before the agent's turn, so before the tool ran
    assert seen["after"] == {"c1": {"status": "ok", "result": "charged 5"}}  # the tool's result, before "after"
    # Two stored points: before the agent's first turn, and its tool's result before its next turn.
    assert len(store.checkpoints) == 2


def test_a_stream_stores_every_event_whatever_the_durability():
    store = CountingStore()
    wf = chain(3, durability="pause", store=store)
    for event in wf.run("go", stream=True):
        if event.event == "StepCompleted":
            stored = [e["step_name"] for e in store.events[event.run_id] if e["event"] == "StepCompleted"]
            assert stored[-1] == event.step_name
