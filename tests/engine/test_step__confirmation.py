"""Step pre-execution gates: confirmation and user input, with every on_reject; a rejected gate never runs its step."""

import pytest

from workflows.engine import (
    HumanReview,
    OnReject,
    RunStateError,
    RunStatus,
    Step,
    UserInputField,
    pause,
)

from .helpers import contents, make, only


def gated(calls, name="b", **review):
    return Step(name=name, executor=calls.fn(name), human_review=HumanReview(requires_confirmation=True, **review))


def test_pauses_before_the_step_runs(calls):
    wf = make([calls.fn("a"), gated(calls, confirmation_message="Process?"), calls.fn("c")])
    out = wf.run("in")
    assert out.status == RunStatus.PAUSED and out.is_paused
    assert out.pause_kind == "step"
    assert out.paused_step_name == "b"
    assert calls.names() == ["a"]
    assert contents(out) == ["a(None)"]
    req = only(out.steps_requiring_confirmation)
    assert (req.kind, req.step_name, req.path, req.key, req.message) == (
        "confirmation",
        "b",
        "1",
        "1:confirmation:0",
        "Process?",
    )
    assert out.active_requirements == [req]
    assert out.steps_requiring_user_input == out.steps_requiring_output_review == []


def test_confirm_runs_the_step_and_the_rest(calls):
    wf = make([calls.fn("a"), gated(calls), calls.fn("c")])
    out = wf.run("in")
    only(out.steps_requiring_confirmation).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "c"]
    assert contents(out) == ["a(None)", "b(a(None))", "c(b(a(None)))"]
    assert out.content == "c(b(a(None)))"
    assert out.pause_kind is None and out.paused_step_name is None
    assert out.active_requirements == []
    assert out.step_requirements[0].status == "RESOLVED"
    assert out.step_requirements[0].resolution == {"action": "confirm"}


def test_reject_default_skips_and_never_runs(calls):
    wf = make([calls.fn("a"), gated(calls), calls.fn("c")])
    out = wf.run()
    only(out.steps_requiring_confirmation).reject("not now")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "c"]
    assert contents(out) == ["a(None)", "c(a(None))"]  # c sees the step before the skipped one
    assert out.step_requirements[0].feedback == "not now"


def test_reject_cancel_cancels_the_run(calls):
    wf = make([calls.fn("a"), gated(calls, on_reject=OnReject.cancel), calls.fn("c")])
    out = wf.run()
    only(out.steps_requiring_confirmation).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED and out.is_cancelled
    assert out.content == "Workflow cancelled: Step 'b' was rejected"
    assert calls.names() == ["a"]
    assert contents(out) == ["a(None)"]
    assert out.pause_kind is None and out.paused_step_name is None  # no stale pause fields
    with pytest.raises(RunStateError, match="not paused"):
        wf.continue_run(run_id=out.run_id)


def test_reject_retry_re_asks_and_never_runs_the_step(calls):
    wf = make([gated(calls, on_reject=OnReject.retry), calls.fn("c")])
    out = wf.run()
    first = only(out.steps_requiring_confirmation)
    first.reject("ask me again")
    out = wf.continue_run(out)
    assert out.is_paused
    assert calls.names() == []
    second = only(out.steps_requiring_confirmation)
    assert second.id != first.id
    assert second.key == "0:confirmation:1"
    assert [r.status for r in out.step_requirements] == ["RESOLVED", "PENDING"]  # history, newest last
    second.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["b", "c"]


def test_reject_retry_stops_after_max_retries(calls):
    wf = make([gated(calls, on_reject="retry", max_retries=2), calls.fn("c")])
    out = wf.run()
    for _ in range(2):
        only(out.active_requirements).reject()
        out = wf.continue_run(out)
        assert out.is_paused
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert "Max retries (2) reached" in out.content
    assert len(out.step_requirements) == 3
    assert calls.names() == []


def test_reject_retry_with_zero_max_retries_cancels_at_once(calls):
    wf = make([gated(calls, on_reject="retry", max_retries=0)])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert calls.names() == []


def test_continue_without_a_decision_is_refused(calls):
    wf = make([gated(calls)])
    out = wf.run()
    with pytest.raises(RunStateError, match="unresolved"):
        wf.continue_run(out)
    with pytest.raises(RunStateError, match="unresolved"):
        wf.continue_run(run_id=out.run_id)
    assert wf.get_run_output(out.run_id).is_paused


def test_the_next_gate_still_pauses_after_a_skip(calls):
    wf = make([gated(calls, name="b"), gated(calls, name="c")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.is_paused
    assert only(out.active_requirements).step_name == "c"


def user_input_step(calls, **review):
    schema = [UserInputField("city"), UserInputField("days", field_type="int"), UserInputField("note", required=False)]
    return Step(
        name="plan",
        executor=calls.fn("plan", result=lambda si: dict(si.user_input)),
        human_review=HumanReview(
            requires_user_input=True, user_input_schema=schema, user_input_message="Where?", **review
        ),
    )


def test_user_input_reaches_the_step(calls):
    wf = make([calls.fn("a"), user_input_step(calls)])
    out = wf.run()
    req = only(out.steps_requiring_user_input)
    assert req.kind == "user_input"
    assert req.message == "Where?"
    assert [f.name for f in req.schema] == ["city", "days", "note"]
    assert out.steps_requiring_confirmation == []
    req.set_user_input(city="Oslo", days=3)
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.content == {"city": "Oslo", "days": 3}
    si = calls.last("plan")
    assert si.additional_data["user_input"] == {"city": "Oslo", "days": 3}
    assert si.user_input == {"city": "Oslo", "days": 3}


def test_user_input_given_in_two_calls(calls):
    wf = make([user_input_step(calls)])
    out = wf.run()
    req = only(out.steps_requiring_user_input)
    req.set_user_input(city="Oslo")
    with pytest.raises(RunStateError):
        wf.continue_run(out)  # days missing: nothing decided yet
    req.set_user_input(days=2, note="hi")
    out = wf.continue_run(out)
    assert out.content == {"city": "Oslo", "days": 2, "note": "hi"}


def test_user_input_provide_user_input_and_reject(calls):
    wf = make([user_input_step(calls), calls.fn("c")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["c"]
    wf2 = make([user_input_step(calls)])
    out = wf2.run()
    only(out.active_requirements).provide_user_input({"city": "Rome", "days": 1})
    assert wf2.continue_run(out).content == {"city": "Rome", "days": 1}


def test_user_input_with_confirmation_is_one_requirement(calls):
    wf = make([user_input_step(calls, requires_confirmation=True, confirmation_message="Go?")])
    out = wf.run()
    req = only(out.active_requirements)
    assert req.kind == "user_input"
    assert req.message == "Where?"


def test_user_input_reject_retry_asks_again(calls):
    wf = make([user_input_step(calls, on_reject="retry")])
    out = wf.run()
    only(out.active_requirements).reject("wrong form")
    out = wf.continue_run(out)
    req = only(out.steps_requiring_user_input)
    assert req.key == "0:user_input:1"
    req.set_user_input(city="X", days=1)
    assert wf.continue_run(out).status == RunStatus.COMPLETED
    assert calls.count("plan") == 1


def test_pause_decorator_gates_a_bare_function(calls):
    ran = []

    @pause(confirmation_message="Sure?")
    def deploy(si):
        ran.append(1)
        return "deployed"

    wf = make([deploy])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert (req.step_name, req.message) == ("deploy", "Sure?")
    assert ran == []
    req.confirm()
    assert wf.continue_run(out).content == "deployed"


def test_pause_decorator_for_user_input():
    @pause(name="ask", requires_user_input=True, user_input_schema=[{"name": "n", "field_type": "int"}])
    def double(si):
        return si.user_input["n"] * 2

    wf = make([double])
    out = wf.run()
    req = only(out.steps_requiring_user_input)
    assert req.step_name == "ask"
    req.set_user_input(n=21)
    assert wf.continue_run(out).content == 42


def test_decisions_are_attributed(calls):
    wf = make([gated(calls)])
    out = wf.run(user="alice")
    assert out.created_by == "alice"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out, user="bob")
    assert out.step_requirements[0].resolved_by == "bob"
    assert out.step_requirements[0].resolved_at is not None
    assert out.step_requirements[0].version == 2


def test_user_input_reject_cancel(calls):
    wf = make([user_input_step(calls, on_reject="cancel")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert calls.names() == []


def test_user_object_is_recorded_by_username(calls):
    class User:
        def get_username(self):
            return "carol"

    wf = make([gated(calls)])
    out = wf.run(user=User())
    assert out.created_by == "carol"
    only(out.active_requirements).confirm()
    assert wf.continue_run(out, user=User()).step_requirements[0].resolved_by == "carol"
