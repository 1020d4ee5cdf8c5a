"""Timeouts on every kind: applied when the run is continued, recorded as timed_out; decisions before win."""

import pytest

from workflows.engine import (
    Condition,
    ConflictError,
    ExpiredError,
    HumanReview,
    Loop,
    Parallel,
    Router,
    RunStateError,
    RunStatus,
    ScriptedAgent,
    Step,
    Steps,
    ToolCall,
    UserInputField,
    tool,
)

from .helpers import T0, make, only


def timed(on_timeout, **review):
    return HumanReview(timeout=60, on_timeout=on_timeout, **review)


def expire(wf, clock, out):
    clock.advance(61)
    return wf.continue_run(run_id=out.run_id)


def test_requirement_carries_its_deadline(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("skip", requires_confirmation=True))], clock=clock
    )
    req = only(wf.run().active_requirements)
    assert req.timeout_at == T0.replace(minute=1)
    assert req.on_timeout == "skip"


def test_no_deadline_without_timeout(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=HumanReview(requires_confirmation=True))], clock=clock
    )
    req = only(wf.run().active_requirements)
    assert req.timeout_at is None and req.on_timeout is None


@pytest.mark.parametrize(
    ("on_timeout", "status", "ran"),
    [
        ("approve", RunStatus.COMPLETED, ["s", "after"]),
        ("skip", RunStatus.COMPLETED, ["after"]),
        ("cancel", RunStatus.CANCELLED, []),
    ],
)
def test_step_confirmation_times_out(calls, clock, on_timeout, status, ran):
    wf = make(
        [
            Step(name="s", executor=calls.fn("s"), human_review=timed(on_timeout, requires_confirmation=True)),
            calls.fn("after"),
        ],
        clock=clock,
    )
    out = wf.run()
    out = expire(wf, clock, out)
    assert out.status == status
    assert calls.names() == ran
    req = out.step_requirements[0]
    assert req.status == "EXPIRED"
    assert req.resolution == {"action": "timed_out", "on_timeout": on_timeout}
    assert req.resolved_by == "system"
    if on_timeout == "cancel":
        assert out.content == "Workflow cancelled: Step 's' timed out"
    assert any(e.event == "RequirementTimedOut" for e in out.events)


def test_not_due_yet_nothing_happens(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("approve", requires_confirmation=True))], clock=clock
    )
    out = wf.run()
    clock.advance(59)
    with pytest.raises(RunStateError, match="unresolved"):
        wf.continue_run(run_id=out.run_id)
    assert wf.get_run_output(out.run_id).active_requirements[0].status == "PENDING"


def test_a_decision_before_the_deadline_wins(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("cancel", requires_confirmation=True))], clock=clock
    )
    out = wf.run()
    clock.advance(30)
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.step_requirements[0].status == "RESOLVED"


def test_a_decision_stored_before_the_deadline_wins_when_continued_after_it(calls, clock, memory_store):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("cancel", requires_confirmation=True))],
        clock=clock,
        store=memory_store,
    )
    out = wf.run()
    req = only(out.active_requirements)
    memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor="ann", now=clock())
    clock.advance(3600)
    out = wf.continue_run(run_id=out.run_id)
    assert out.status == RunStatus.COMPLETED
    assert out.step_requirements[0].resolved_by == "ann"


def test_a_decision_after_the_deadline_is_refused(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("cancel", requires_confirmation=True))], clock=clock
    )
    out = wf.run()
    clock.advance(60)
    with pytest.raises(ExpiredError):
        only(out.active_requirements).confirm()
    # The run can still be continued: the timeout applies.
    out = wf.continue_run(run_id=out.run_id)
    assert out.status == RunStatus.CANCELLED
    assert calls.names() == []


def test_a_local_decision_stored_after_the_deadline_is_refused(calls, clock):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("skip", requires_confirmation=True))], clock=clock
    )
    out = wf.run()
    only(out.active_requirements).confirm()  # decided in time on this object...
    clock.advance(120)  # ...but only handed in late
    with pytest.raises(ExpiredError):
        wf.continue_run(out)
    stored = wf.get_run_output(out.run_id)
    assert stored.is_paused
    assert stored.step_requirements[0].status == "EXPIRED"
    out = wf.continue_run(run_id=out.run_id)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == []  # skipped by the timeout, not confirmed


def test_store_resolve_after_the_deadline_raises_expired(calls, clock, memory_store):
    wf = make(
        [Step(name="s", executor=calls.fn("s"), human_review=timed("skip", requires_confirmation=True))],
        clock=clock,
        store=memory_store,
    )
    req = only(wf.run().active_requirements)
    clock.advance(61)
    with pytest.raises(ExpiredError):
        memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor="x", now=clock())
    with pytest.raises(ExpiredError):  # and again, once the expiry is stored
        memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version + 1, actor="x", now=clock())
    with pytest.raises(ConflictError):
        memory_store.resolve(req.id, resolution={"action": "confirm"}, version=req.version, actor="x", now=clock())


def test_user_input_timeout_approve_uses_the_defaults(calls, clock):
    schema = [UserInputField("city", default="Oslo"), UserInputField("n", field_type="int", required=False)]
    step = Step(
        name="s",
        executor=calls.fn("s", result=lambda si: si.user_input),
        human_review=timed("approve", requires_user_input=True, user_input_schema=schema),
    )
    wf = make([step], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.COMPLETED
    assert out.content == {"city": "Oslo"}


@pytest.mark.parametrize(("on_timeout", "status"), [("skip", RunStatus.COMPLETED), ("cancel", RunStatus.CANCELLED)])
def test_user_input_timeout_skip_and_cancel(calls, clock, on_timeout, status):
    step = Step(
        name="s",
        executor=calls.fn("s"),
        human_review=timed(on_timeout, requires_user_input=True, user_input_schema=[UserInputField("x")]),
    )
    wf = make([step], clock=clock)
    out = expire(wf, clock, wf.run())  # agno: a timed-out input could never be continued
    assert out.status == status
    assert calls.names() == []


@pytest.mark.parametrize(
    ("on_timeout", "status", "contents"),
    [
        ("approve", RunStatus.COMPLETED, ["s(None)", "after(s(None))"]),
        ("skip", RunStatus.COMPLETED, ["after(None)"]),
        ("cancel", RunStatus.CANCELLED, []),
    ],
)
def test_output_review_times_out(calls, clock, on_timeout, status, contents):
    step = Step(name="s", executor=calls.fn("s"), human_review=timed(on_timeout, requires_output_review=True))
    wf = make([step, calls.fn("after")], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == status
    assert [r.content for r in out.step_results] == contents
    assert calls.count("s") == 1


def test_output_review_retry_gets_a_new_deadline(calls, clock):
    step = Step(
        name="s", executor=calls.fn("s"), human_review=timed("cancel", requires_output_review=True, on_reject="retry")
    )
    wf = make([step], clock=clock)
    out = wf.run()
    clock.advance(50)
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert only(out.active_requirements).timeout_at == clock() + (T0.replace(minute=1) - T0)


@pytest.mark.parametrize(
    ("on_timeout", "status", "ran"),
    [
        ("approve", RunStatus.COMPLETED, ["deep"]),
        ("skip", RunStatus.COMPLETED, []),
        ("cancel", RunStatus.CANCELLED, []),
    ],
)
def test_route_selection_times_out(calls, clock, on_timeout, status, ran):
    router = Router(
        name="r",
        choices=[Step(name="quick", executor=calls.fn("quick")), Step(name="deep", executor=calls.fn("deep"))],
        selector=lambda si: "deep",
        human_review=timed(on_timeout, requires_user_input=True),
    )
    wf = make([router], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == status
    assert calls.names() == ran


@pytest.mark.parametrize(
    ("on_timeout", "status", "count"),
    [("approve", RunStatus.COMPLETED, 1), ("skip", RunStatus.COMPLETED, 1), ("cancel", RunStatus.CANCELLED, 1)],
)
def test_iteration_review_times_out(calls, clock, on_timeout, status, count):
    loop = Loop(
        name="l",
        steps=[calls.fn("x")],
        max_iterations=3,
        human_review=timed(on_timeout, requires_iteration_review=True),
    )
    wf = make([loop], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == status
    assert calls.count("x") == count
    if on_timeout == "approve":  # accepted: the output is kept
        assert out.content == "x(None)"


@pytest.mark.parametrize(
    ("node_factory", "name"),
    [
        (lambda calls, r: Steps(name="n", steps=[calls.fn("x")], human_review=r), "steps"),
        (lambda calls, r: Loop(name="n", steps=[calls.fn("x")], max_iterations=1, human_review=r), "loop"),
        (
            lambda calls, r: Condition(name="n", steps=[calls.fn("x")], else_steps=[calls.fn("e")], human_review=r),
            "cond",
        ),
        (lambda calls, r: Router(name="n", choices=[calls.fn("x")], selector=lambda si: "x", human_review=r), "router"),
        (lambda calls, r: Parallel(calls.fn("x"), name="n", human_review=r), "parallel"),
    ],
)
@pytest.mark.parametrize(
    ("on_timeout", "status", "ran"),
    [("approve", "COMPLETED", ["x"]), ("skip", "COMPLETED", []), ("cancel", "CANCELLED", [])],
)
def test_container_confirmation_times_out(calls, clock, node_factory, name, on_timeout, status, ran):
    wf = make([node_factory(calls, timed(on_timeout, requires_confirmation=True))], clock=clock)
    out = wf.run()
    assert only(out.active_requirements).timeout_at is not None  # agno set none on containers
    out = expire(wf, clock, out)
    assert out.status == status
    assert calls.names() == ran


@pytest.mark.parametrize(
    ("on_timeout", "status", "count"),
    [("approve", RunStatus.COMPLETED, 2), ("skip", RunStatus.COMPLETED, 1), ("cancel", RunStatus.CANCELLED, 1)],
)
def test_error_pause_times_out(calls, clock, on_timeout, status, count):
    step = Step(name="s", executor=calls.fn("s", fail=1), human_review=timed(on_timeout, on_error="pause"))
    wf = make([step], clock=clock)
    out = wf.run()
    assert out.pause_kind == "error"
    out = expire(wf, clock, out)
    assert out.status == status
    assert calls.count("s") == count  # approve = retry


@tool(requires_confirmation=True)
def send(to: str) -> str:
    return f"sent to {to}"


@pytest.mark.parametrize(
    ("on_timeout", "status", "tool_status"),
    [
        ("approve", RunStatus.COMPLETED, "ok"),
        ("skip", RunStatus.COMPLETED, "rejected"),
        ("cancel", RunStatus.CANCELLED, None),
    ],
)
def test_executor_confirmation_times_out(clock, on_timeout, status, tool_status):
    seen = []

    def final(history):
        seen.extend(history)
        return "done"

    agent = ScriptedAgent("bot", tools=[send], script=[ToolCall("send", {"to": "bob"}), final])
    wf = make([Step(name="s", agent=agent, human_review=timed(on_timeout))], clock=clock)
    out = wf.run()
    assert only(out.steps_requiring_executor_resolution).timeout_at is not None
    out = expire(wf, clock, out)
    assert out.status == status
    if tool_status:
        assert [h.status for h in seen] == [tool_status]
    else:
        assert seen == []


def test_parallel_one_branch_expires_the_other_waits(calls, clock):
    timed_branch = Step(name="t", executor=calls.fn("t"), human_review=timed("approve", requires_confirmation=True))
    waiting = Step(name="w", executor=calls.fn("w"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Parallel(timed_branch, waiting, name="p")], clock=clock)
    out = expire(wf, clock, wf.run())  # only an expired requirement to apply: it must work
    assert out.is_paused
    assert calls.names() == ["t"]
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED


def test_nested_gate_times_out_and_the_container_resumes(calls, clock):
    inner = Step(name="g", executor=calls.fn("g"), human_review=timed("skip", requires_confirmation=True))
    wf = make([Loop(name="l", steps=[Steps(name="p", steps=[inner, calls.fn("y")])], max_iterations=2)], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.is_paused  # iteration 2 asks again, with a fresh deadline
    assert calls.names() == ["y"]
    req = only(out.active_requirements)
    assert req.timeout_at == clock() + (T0.replace(minute=1) - T0)
    out = expire(wf, clock, out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["y", "y"]
