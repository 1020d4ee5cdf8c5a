"""Continuing runs: by object or id, from a fresh Workflow, stale copies, definition changes (fixes 12, 14)."""

import pytest

from workflows.engine import (
    ConflictError,
    DefinitionChangedError,
    HumanReview,
    Loop,
    MemoryStore,
    RunNotFoundError,
    RunStateError,
    RunStatus,
    ScriptedAgent,
    Step,
    ToolCall,
    Workflow,
    tool,
)

from .helpers import make, only


def definition(calls, extra_gate=False):
    steps = [
        calls.fn("a"),
        Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True)),
        calls.fn("c"),
    ]
    if extra_gate:
        steps.append(Step(name="d", executor=calls.fn("d"), human_review=HumanReview(requires_confirmation=True)))
    return steps


def test_continue_by_run_id(calls, memory_store):
    wf = Workflow("w", definition(calls))
    out = wf.run()
    req = only(out.active_requirements)
    memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor="ann", now=wf.clock())
    out = wf.continue_run(run_id=out.run_id)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "c"]


def test_default_store_is_used(calls, memory_store):
    wf = Workflow("w", definition(calls))
    out = wf.run()
    assert out.run_id in memory_store._runs
    assert wf.get_run_output(out.run_id).is_paused


def test_fresh_workflow_object_with_the_same_definition_resumes(calls, memory_store):
    out = Workflow("w", definition(calls), store=memory_store).run()
    other = Workflow("w", definition(calls), store=memory_store)  # e.g. another process
    loaded = other.get_run_output(out.run_id)
    assert loaded.is_paused
    assert [r.content for r in loaded.step_results] == ["a(None)"]
    only(loaded.active_requirements).confirm()
    out = other.continue_run(loaded)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "c"]


def test_unknown_run(calls):
    wf = make(definition(calls))
    with pytest.raises(RunNotFoundError):
        wf.continue_run(run_id="nope")
    with pytest.raises(RunNotFoundError):
        wf.get_run_output("nope")
    with pytest.raises(ValueError):
        wf.continue_run()


def test_stale_copy_cannot_be_continued_again(calls):
    wf = make(definition(calls))
    out = wf.run()
    stale = wf.get_run_output(out.run_id)
    only(out.active_requirements).confirm()
    done = wf.continue_run(out)
    assert done.status == RunStatus.COMPLETED
    only(stale.active_requirements).confirm()  # the stale copy still shows it pending
    with pytest.raises(ConflictError):
        wf.continue_run(stale)
    assert calls.names() == ["a", "b", "c"]  # nothing re-executed
    assert wf.get_run_output(out.run_id).status == RunStatus.COMPLETED


def test_stale_copy_with_another_decision_changes_nothing(calls):
    wf = make(definition(calls, extra_gate=True))
    out = wf.run()
    stale = wf.get_run_output(out.run_id)
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).step_name == "d"
    only(stale.active_requirements).reject()
    with pytest.raises(ConflictError):
        wf.continue_run(stale)
    now = wf.get_run_output(out.run_id)
    assert now.is_paused and only(now.active_requirements).step_name == "d"
    assert now.step_requirements[0].resolution == {"action": "confirm"}
    assert calls.names() == ["a", "b", "c"]


def test_the_same_output_continued_twice(calls):
    wf = make(definition(calls))
    out = wf.run()
    only(out.active_requirements).confirm()
    wf.continue_run(out)
    with pytest.raises(RunStateError, match="not paused"):
        wf.continue_run(out)
    assert calls.names() == ["a", "b", "c"]


def test_stale_copy_of_a_tool_pause_never_reruns_the_tool():
    runs = []

    @tool(requires_confirmation=True)
    def charge(amount: int) -> str:
        runs.append(amount)
        return "charged"

    wf = make(
        [Step(name="pay", agent=ScriptedAgent("bot", tools=[charge], script=[ToolCall("charge", {"amount": 5}), "ok"]))]
    )
    out = wf.run()
    stale = wf.get_run_output(out.run_id)
    only(out.active_requirements).confirm()
    wf.continue_run(out)
    only(stale.active_requirements).confirm()
    with pytest.raises(ConflictError):
        wf.continue_run(stale)
    assert runs == [5]


def test_a_running_run_cannot_be_continued(calls, memory_store):
    wf = make(definition(calls), store=memory_store)
    out = wf.run()
    only(out.active_requirements).confirm()
    events = wf.continue_run(out, stream=True)
    next(events)  # the run is now claimed (RUNNING)
    with pytest.raises(RunStateError, match="RUNNING"):
        wf.continue_run(run_id=out.run_id)
    list(events)
    assert wf.get_run_output(out.run_id).status == RunStatus.COMPLETED


def test_changed_definition_where_the_paused_path_vanished(calls, memory_store):
    out = Workflow("w", definition(calls), store=memory_store).run()
    changed = Workflow("w", [calls.fn("a"), calls.fn("c")], store=memory_store)
    loaded = changed.get_run_output(out.run_id)
    only(loaded.active_requirements).confirm()
    with pytest.raises(DefinitionChangedError, match="1"):
        changed.continue_run(loaded)
    with pytest.raises(DefinitionChangedError):
        changed.continue_run(run_id=out.run_id)
    still = changed.get_run_output(out.run_id)
    assert still.status == RunStatus.PAUSED
    assert only(still.active_requirements).status == "PENDING"  # the refused decision was not stored
    assert calls.names() == ["a"]
    # Restoring the definition makes the run resumable again.
    restored = Workflow("w", definition(calls), store=memory_store)
    state = restored.get_run_output(out.run_id)
    only(state.active_requirements).confirm()
    out = restored.continue_run(state)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "c"]


def test_resume_with_a_changed_definition_leaves_the_run_paused(calls, memory_store):
    out = Workflow("w", definition(calls), store=memory_store).run()
    req = only(out.active_requirements)
    memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor=None, now=req.created_at)
    changed = Workflow("w", [Step(name="other", executor=calls.fn("x"))], store=memory_store)
    with pytest.raises(DefinitionChangedError):
        list(changed.advance(out.run_id, stream=True))
    assert changed.get_run_output(out.run_id).status == RunStatus.PAUSED


def test_changed_definition_that_keeps_the_paths_resumes(calls, memory_store):
    out = Workflow("w", definition(calls), store=memory_store).run()
    # A new step appended at the end and a changed message: the recorded paths all still exist.
    steps = definition(calls)
    steps[1] = Step(
        name="b",
        executor=calls.fn("b"),
        human_review=HumanReview(requires_confirmation=True, confirmation_message="new text"),
    )
    steps.append(calls.fn("z"))
    changed = Workflow("w", steps, store=memory_store)
    assert changed.fingerprint != Workflow("w", definition(calls)).fingerprint
    loaded = changed.get_run_output(out.run_id)
    only(loaded.active_requirements).confirm()
    out = changed.continue_run(loaded)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "c", "z"]


def test_renamed_paused_step_is_a_definition_change(calls, memory_store):
    out = Workflow("w", definition(calls), store=memory_store).run()
    steps = definition(calls)
    steps[1] = Step(name="renamed", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True))
    changed = Workflow("w", steps, store=memory_store)
    loaded = changed.get_run_output(out.run_id)
    only(loaded.active_requirements).confirm()
    with pytest.raises(DefinitionChangedError):
        changed.continue_run(loaded)


def test_loop_run_resumes_under_a_fresh_object(calls, memory_store):
    def build():
        gate = Step(name="g", executor=calls.fn("g"), human_review=HumanReview(requires_confirmation=True))
        return Workflow("w", [Loop(name="l", steps=[gate], max_iterations=2)], store=memory_store)

    out = build().run()
    while out.is_paused:
        wf = build()
        loaded = wf.get_run_output(out.run_id)
        only(loaded.active_requirements).confirm()
        out = wf.continue_run(loaded)
    assert calls.names() == ["g", "g"]


def test_workflows_are_reusable_and_runs_independent(calls):
    wf = make(definition(calls))
    one, two = wf.run("1"), wf.run("2")
    assert one.run_id != two.run_id
    only(two.active_requirements).confirm()
    assert wf.continue_run(two).status == RunStatus.COMPLETED
    assert wf.get_run_output(one.run_id).is_paused
    only(one.active_requirements).reject()
    assert wf.continue_run(one).status == RunStatus.COMPLETED


def test_given_run_id_is_used(calls):
    wf = make(definition(calls))
    assert wf.run(run_id="my-run").run_id == "my-run"


def test_history_keeps_creation_order_with_a_frozen_clock(calls):
    # Twelve iterations: keys "@10" and "@11" sort before "@2" as text; history must not.
    gate = Step(name="g", executor=calls.fn("g"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Loop(name="l", steps=[gate], max_iterations=12)])
    out = wf.run()
    while out.is_paused:
        only(out.active_requirements).confirm()
        out = wf.continue_run(out)
    assert [r.iteration for r in out.step_requirements] == list(range(12))
    assert out.step_requirements[-1].iteration == 11


def test_store_round_trips_through_json(calls):
    store = MemoryStore()
    wf = make(definition(calls), store=store)
    out = wf.run({"nested": [1, {"x": None}]}, additional_data={"k": [1, 2]})
    loaded = wf.get_run_output(out.run_id)
    assert loaded.input == {"nested": [1, {"x": None}]}
    assert loaded.additional_data == {"k": [1, 2]}
    assert loaded.step_requirements[0].to_dict() == out.step_requirements[0].to_dict()
