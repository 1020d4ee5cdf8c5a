"""The in-memory store: claims, compare-and-set decisions, checkpoints and crash recovery from events."""

import pytest

from workflows.engine import (
    ConflictError,
    DecisionError,
    HumanReview,
    MemoryStore,
    Parallel,
    RunStateError,
    RunStatus,
    Step,
    get_default_store,
    keys,
    set_default_store,
)
from workflows.engine.state import RunState

from .helpers import T0, make, only


def done(i: int) -> str:
    """The memo key of the output of the ``i``-th top-level step."""
    return keys.memo(keys.DONE, keys.child("", i))


def gated(calls, name):
    return Step(name=name, executor=calls.fn(name), human_review=HumanReview(requires_confirmation=True))


def test_default_store_fixture_is_fresh(memory_store):
    assert get_default_store() is memory_store
    assert memory_store._runs == {}


def test_set_default_store_none_falls_back_to_memory(memory_store):
    set_default_store(None)
    assert isinstance(get_default_store(), MemoryStore)


def test_resolve_is_a_compare_and_set(calls, memory_store):
    wf = make([gated(calls, "a")], store=memory_store)
    req = only(wf.run().active_requirements)
    with pytest.raises(ConflictError, match="changed"):
        memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version + 1, actor="x", now=T0)
    stored = memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor="x", now=T0)
    assert (stored.status, stored.version, stored.resolved_by) == ("RESOLVED", 2, "x")
    with pytest.raises(ConflictError, match="already resolved by x"):
        memory_store.resolve(req.id, resolution={"action": "reject"}, version=2, actor="y", now=T0)
    with pytest.raises(DecisionError):
        memory_store.resolve("nope", resolution={"action": "confirm"}, version=1, actor="x", now=T0)


def test_decisions_of_one_continue_are_stored_together_or_not_at_all(calls, memory_store):
    wf = make([Parallel(gated(calls, "x"), gated(calls, "y"), name="p")], store=memory_store)
    mine = wf.run()
    theirs = wf.get_run_output(mine.run_id)
    theirs.active_requirements[1].confirm()
    wf.continue_run(theirs)  # y decided and run by someone else
    for req in mine.active_requirements:
        req.confirm()  # x is new, y is stale
    with pytest.raises(ConflictError):
        wf.continue_run(mine)
    now = wf.get_run_output(mine.run_id)
    assert now.is_paused
    assert [r.status for r in now.step_requirements] == ["PENDING", "RESOLVED"]  # x was not stored either
    assert calls.names() == ["y"]


def test_claim_refuses_runs_that_cannot_go_on(calls, memory_store):
    wf = make([calls.fn("a")], store=memory_store)
    out = wf.run()
    with pytest.raises(RunStateError, match="COMPLETED"):
        memory_store.claim(out.run_id, now=T0)
    wf = make([gated(calls, "g")], store=memory_store)
    out = wf.run()
    with pytest.raises(RunStateError, match="unresolved step requirements: \\['g'\\]"):
        memory_store.claim(out.run_id, now=T0)
    assert memory_store.load(out.run_id).status == "PAUSED"


def test_a_pending_run_may_be_claimed(calls, memory_store):
    state = RunState.new(workflow_name="wf", fingerprint="", input=None, additional_data=None, created_by=None)
    memory_store.insert(state)
    assert memory_store.claim(state.run_id, now=T0).status == "RUNNING"


def test_memo_is_rebuilt_from_events_after_a_crash(calls, memory_store):
    wf = make([calls.fn("a"), calls.fn("b"), gated(calls, "c")], store=memory_store)
    stream = wf.run(stream=True)
    for event in stream:
        if event.event == "StepCompleted" and event.step_name == "b":
            break
    # The worker "dies" here: the snapshot was never written since the start, only events were.
    state = memory_store.load(event.run_id)
    assert state.status == "RUNNING"
    assert {done(0), done(1)} <= set(state.memo)
    assert state.memo[done(1)]["content"] == "b(a(None))"
    assert state.seq == event.seq


def test_fold_ignores_events_already_in_the_snapshot():
    state = RunState(run_id="r", workflow_name="w")
    state.restore({"memo": {"done:0": {"content": 1}}, "seq": 2})

    class Ev:
        def __init__(self, seq, memo):
            self.seq, self.memo = seq, memo

    state.fold([Ev(1, {"done:0": {"content": "old"}}), Ev(3, {"done:1": {"content": 2}}), Ev(4, None)])
    assert state.memo == {"done:0": {"content": 1}, "done:1": {"content": 2}}
    assert state.seq == 4


def test_snapshot_and_clone():
    state = RunState(run_id="r", workflow_name="w", memo={"x": [1]})
    copy = state.clone()
    copy.memo["x"].append(2)
    assert state.memo == {"x": [1]}
    assert state.snapshot() == {"memo": {"x": [1]}, "seq": 0}


def test_events_and_step_runs_are_kept(calls, memory_store):
    wf = make([calls.fn("a"), gated(calls, "b")], store=memory_store)
    out = wf.run()
    rows = memory_store.events[out.run_id]
    assert [r["event"] for r in rows] == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepPaused",
        "WorkflowPaused",
    ]
    assert rows[2]["memo"][done(0)]["content"] == "a(None)"
    runs = memory_store.step_runs[out.run_id]
    assert [(r["path"], r["name"], r["kind"], r["status"]) for r in runs] == [("0", "a", "Step", "COMPLETED")]
    assert runs[0]["output"]["content"] == "a(None)"


def test_cancelled_run_cancels_its_pending_requirements(calls, memory_store):
    from workflows.engine import OnReject

    cancel = Step(
        name="c",
        executor=calls.fn("c"),
        human_review=HumanReview(requires_confirmation=True, on_reject=OnReject.cancel),
    )
    wf = make([Parallel(cancel, gated(calls, "other"), name="p")], store=memory_store)
    out = wf.run()
    out.active_requirements[0].reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert [r.status for r in out.step_requirements] == ["RESOLVED", "CANCELLED"]
    assert out.active_requirements == []
    assert memory_store.load(out.run_id).requirements[1].status == "CANCELLED"


def test_output_repr_and_flags(calls):
    out = make([calls.fn("a")], name="demo").run()
    assert repr(out).startswith("<WorkflowRunOutput demo ")
    assert out.has_completed and not out.is_paused and not out.is_cancelled


class CountingStore(MemoryStore):
    """Records, at each checkpoint, which steps' completions are stored."""

    def __init__(self):
        super().__init__()
        self.checkpoints: list[list[str]] = []

    def stored_done(self, run_id) -> list[str]:
        return sorted(k for row in self.events[run_id] for k in (row["memo"] or {}) if k.partition(":")[0] == keys.DONE)

    def checkpoint(self, state):
        super().checkpoint(state)
        self.checkpoints.append(self.stored_done(state.run_id))


def test_without_a_stream_a_checkpoint_is_stored_before_the_next_operator_code(calls):
    store = CountingStore()
    seen = []

    def b(step_input):
        (run_id,) = store.events  # what a crash here would leave behind: a's completion is stored
        seen.append(store.stored_done(run_id))
        return "b"

    wf = make([calls.fn("a"), Step(name="b", executor=b), gated(calls, "c")], store=store)
    out = wf.run()
    assert seen == [[done(0)]]
    # a's before b runs, b's before c's confirmation is asked: one write each.
    assert store.checkpoints == [[done(0)], [done(0), done(1)]]
    only(out.active_requirements).confirm()
    store.checkpoints.clear()
    assert wf.continue_run(out).status == RunStatus.COMPLETED
    assert store.checkpoints == []  # c's result is written with the end of the run, in one write
    assert store.stored_done(out.run_id) == [done(0), done(1), done(2)]


def test_a_stream_sees_each_event_after_it_is_stored(calls):
    store = CountingStore()
    wf = make([calls.fn("a"), calls.fn("b")], store=store)
    seen = []
    for event in wf.run(stream=True):
        seen.append(event.event)
        assert event.seq in [row["seq"] for row in store.events[event.run_id]]
    assert seen == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    assert store.checkpoints[-1] == [done(0), done(1)]
