"""A stream hands out only stored events: the run row, the requirement and the pause are there
when the consumer sees them; internal Checkpoint events are never handed out."""

from workflows.engine import HumanReview, Router, RunStatus, ScriptedAgent, Step, ToolCall, tool

from .helpers import make, only


def stored_seqs(store, run_id) -> set[int]:
    return {row["seq"] for row in store.events.get(run_id, [])}


def test_every_streamed_event_is_stored_when_it_is_handed_out(calls, memory_store):
    gated = Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True))
    wf = make([calls.fn("a"), gated], store=memory_store)
    seen = []
    for event in wf.run("go", stream=True):
        assert event.seq in stored_seqs(memory_store, event.run_id), event.event
        # The run row exists from the first event on.
        assert memory_store.load(event.run_id).run_id == event.run_id
        seen.append(event.event)
    assert seen == ["WorkflowStarted", "StepStarted", "StepCompleted", "StepPaused", "WorkflowPaused"]


def test_a_step_paused_consumer_finds_the_requirement_and_a_workflow_paused_one_the_pause(calls, memory_store):
    gated = Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True))
    wf = make([calls.fn("a"), gated], store=memory_store)
    at = {}
    for event in wf.run("go", stream=True):
        if event.event in ("StepPaused", "WorkflowPaused"):
            at[event.event] = wf.get_run_output(event.run_id)
    # StepPaused: the requirement is stored and listed, the run still executes (other branches of
    # a Parallel may still run); WorkflowPaused: the run is stored PAUSED and may be continued.
    step_paused = at["StepPaused"]
    assert step_paused.status == RunStatus.RUNNING
    assert only(step_paused.steps_requiring_confirmation).step_name == "b"
    paused = at["WorkflowPaused"]
    assert paused.status == RunStatus.PAUSED and paused.paused_step_name == "b"
    only(paused.steps_requiring_confirmation).confirm()
    assert wf.continue_run(paused).status == RunStatus.COMPLETED


def test_breaking_out_at_step_paused_still_stores_the_pause(calls, memory_store):
    gated = Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True))
    wf = make([gated], store=memory_store)
    for event in wf.run(stream=True):
        if event.event == "StepPaused":
            break
    assert wf.get_run_output(event.run_id).status == RunStatus.PAUSED


def test_checkpoint_events_are_stored_but_never_handed_out(calls, memory_store):
    @tool
    def echo(text):
        return text

    agent = ScriptedAgent("bot", [echo], script=[ToolCall("echo", {"text": "hi"}), "done"])
    wf = make(
        [Step(name="s", agent=agent), Router(name="r", choices=[calls.fn("x")], selector=lambda si: "x")],
        store=memory_store,
    )
    streamed = list(wf.run(stream=True))
    assert "Checkpoint" not in [e.event for e in streamed]
    run_id = streamed[0].run_id
    assert "Checkpoint" in [row["event"] for row in memory_store.events[run_id]]
    out = wf.run()
    assert out.events and "Checkpoint" not in [e.event for e in out.events]
