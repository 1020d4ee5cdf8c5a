"""stream=True yields Event objects named like agno's; every event is also stored."""

from workflows.engine import Event, HumanReview, Loop, OnReject, Router, RunStatus, ScriptedAgent, Step, ToolCall, tool

from .helpers import make, names_of


def pipeline(calls):
    return [
        calls.fn("a"),
        Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True)),
        Step(name="c", executor=calls.fn("c"), human_review=HumanReview(requires_output_review=True)),
        Router(name="r", choices=[calls.fn("x"), calls.fn("y")], human_review=HumanReview(requires_user_input=True)),
    ]


def test_stream_through_every_pause(calls, memory_store):
    wf = make(pipeline(calls), store=memory_store)
    events = list(wf.run("go", stream=True))
    assert all(isinstance(e, Event) for e in events)
    assert names_of(events) == ["WorkflowStarted", "StepStarted", "StepCompleted", "StepPaused", "WorkflowPaused"]
    run_id = events[0].run_id
    assert events[0].data == {"input": "go"}
    assert [e.step_name for e in events if e.event != "Checkpoint"][1:] == ["a", "a", "b", "b"]
    assert events[-1].data["pause_kind"] == "step"

    out = wf.get_run_output(run_id)
    out.active_requirements[0].confirm()
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == [
        "StepContinued",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepOutputReview",
        "WorkflowPaused",
    ]
    assert events[0].data["action"] == "confirm"

    out = wf.get_run_output(run_id)
    out.active_requirements[0].confirm()
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == ["StepContinued", "StepCompleted", "RouterPaused", "WorkflowPaused"]

    out = wf.get_run_output(run_id)
    out.active_requirements[0].select("y")
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == [
        "StepContinued",
        "StepStarted",
        "StepStarted",
        "StepCompleted",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    assert events[-1].data == {"content": "y(c(b(a(None))))"}
    stored = [row["event"] for row in memory_store.events[run_id]]
    assert stored.count("WorkflowPaused") == 3 and stored[-1] == "WorkflowCompleted"
    assert [row["seq"] for row in memory_store.events[run_id]] == list(range(1, len(stored) + 1))


def test_non_streaming_output_carries_its_events(calls):
    out = make(pipeline(calls)).run()
    assert names_of(out.events)[-2:] == ["StepPaused", "WorkflowPaused"]


def test_cancel_event(calls):
    wf = make(
        [
            Step(
                name="b",
                executor=calls.fn("b"),
                human_review=HumanReview(requires_confirmation=True, on_reject=OnReject.cancel),
            )
        ]
    )
    out = wf.run()
    out.active_requirements[0].reject()
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == ["StepContinued", "WorkflowCancelled"]
    assert events[-1].data == {"reason": "Workflow cancelled: Step 'b' was rejected"}


def test_skip_and_error_events(calls):
    wf = make(
        [
            Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True)),
            Step(name="bad", executor=calls.fn("bad", fail=9), human_review=HumanReview(on_error="pause")),
        ]
    )
    out = wf.run()
    out.active_requirements[0].reject()
    events = list(wf.continue_run(out, stream=True))
    # StepError records the failure, StepPaused (with the requirement) the pause.
    assert names_of(events) == [
        "StepContinued",
        "StepSkipped",
        "StepStarted",
        "StepError",
        "StepPaused",
        "WorkflowPaused",
    ]
    failure, paused = (e for e in events if e.event in ("StepError", "StepPaused"))
    assert failure.data == {"error": "boom", "error_type": "RuntimeError", "attempt": 0}
    assert paused.data["kind"] == "error" and "requirement_id" in paused.data
    assert events[-1].data["pause_kind"] == "error"
    out = wf.get_run_output(events[0].run_id)
    out.steps_with_errors[0].skip()
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == ["StepContinued", "StepSkipped", "WorkflowCompleted"]


def test_failure_event(calls):
    events = list(make([calls.fn("bad", fail=1)]).run(stream=True))
    assert names_of(events) == ["WorkflowStarted", "StepStarted", "StepError", "WorkflowError"]
    assert events[-1].data == {"error": "boom"}


def test_executor_events():
    @tool(requires_confirmation=True)
    def act() -> str:
        return "acted"

    agent = ScriptedAgent("bot", tools=[act], script=[ToolCall("act"), "done"])
    wf = make([Step(name="s", agent=agent)])
    events = list(wf.run(stream=True))
    assert names_of(events)[-2:] == ["StepExecutorPaused", "WorkflowPaused"]
    assert events[-1].data["pause_kind"] == "executor"
    out = wf.get_run_output(events[0].run_id)
    out.active_requirements[0].confirm()
    events = list(wf.continue_run(out, stream=True))
    assert names_of(events) == ["StepExecutorContinued", "StepCompleted", "WorkflowCompleted"]


def test_iteration_review_and_timeout_events(calls, clock):
    loop = Loop(
        name="l",
        steps=[calls.fn("x")],
        max_iterations=3,
        human_review=HumanReview(requires_iteration_review=True, timeout=5, on_timeout="approve"),
    )
    wf = make([loop], clock=clock)
    events = list(wf.run(stream=True))
    assert names_of(events)[-2:] == ["LoopIterationReview", "WorkflowPaused"]
    clock.advance(5)
    events = list(wf.continue_run(run_id=events[0].run_id, stream=True))
    assert names_of(events) == ["RequirementTimedOut", "StepCompleted", "WorkflowCompleted"]


def test_breaking_out_of_a_stream_does_not_strand_the_run(calls):
    wf = make(pipeline(calls))
    stream = wf.run(stream=True)
    for event in stream:
        if event.event == "StepPaused":
            break
    stream.close()
    out = wf.get_run_output(event.run_id)
    assert out.status == RunStatus.PAUSED  # not left RUNNING
    out.active_requirements[0].confirm()
    assert wf.continue_run(out).is_paused


def test_event_to_dict(calls):
    event = next(iter(make([calls.fn("a")]).run(stream=True)))
    data = event.to_dict()
    assert data["event"] == "WorkflowStarted"
    assert data["seq"] == 1
    assert data["created_at"].startswith("2030-01-01T12:00")
