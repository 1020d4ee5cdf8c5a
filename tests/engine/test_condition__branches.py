"""Condition: evaluator, and with confirmation confirm = if branch, reject = else branch."""

import pytest

from workflows.engine import Condition, HumanReview, OnReject, RunStatus, Step

from .helpers import make, only


def cond(calls, evaluator=True, else_steps=True, gate=True, **review):
    return Condition(
        name="c",
        evaluator=evaluator,
        steps=[calls.fn("yes1"), calls.fn("yes2")],
        else_steps=[calls.fn("no")] if else_steps else [],
        human_review=HumanReview(requires_confirmation=True, **review) if gate else None,
    )


@pytest.mark.parametrize(
    ("evaluator", "ran"), [(True, ["yes1", "yes2"]), (False, ["no"]), (lambda si: si.input == "go", ["yes1", "yes2"])]
)
def test_evaluator_picks_the_branch(calls, evaluator, ran):
    wf = make([cond(calls, evaluator=evaluator, gate=False)])
    out = wf.run("go")
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ran
    assert out.step_results[0].metadata == {"branch": "if" if ran[0] == "yes1" else "else"}


def test_false_evaluator_without_else_skips(calls):
    wf = make([calls.fn("a"), cond(calls, evaluator=False, else_steps=False, gate=False), calls.fn("b")])
    out = wf.run()
    assert calls.names() == ["a", "b"]
    assert [r.step_name for r in out.step_results] == ["a", "b"]


def test_evaluator_that_raises_fails_the_run(calls):
    def broken(si):
        raise ValueError("bad evaluator")

    wf = make([cond(calls, evaluator=broken, gate=False)])
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert "bad evaluator" in out.content


def test_confirmation_pauses_before_either_branch(calls):
    wf = make([cond(calls)])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.step_name == "c"
    assert "Confirm runs the if branch" in req.message
    assert req.payload == {"if_steps": ["yes1", "yes2"], "else_steps": ["no"]}
    assert calls.names() == []


def test_confirm_runs_the_if_branch_even_when_the_evaluator_says_no(calls):
    consulted = []

    def evaluator(si):
        consulted.append(1)
        return False

    wf = make([cond(calls, evaluator=evaluator)])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["yes1", "yes2"]
    assert consulted == []  # the person decided, not the evaluator
    assert out.content == "yes2(yes1(None))"


def test_reject_runs_the_else_branch_by_default(calls):
    wf = make([cond(calls, evaluator=True)])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["no"]
    assert out.step_results[0].metadata == {"branch": "else"}


def test_reject_without_else_branch_skips_the_condition(calls):
    wf = make([calls.fn("a"), cond(calls, else_steps=False), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b"]
    assert out.content == "b(a(None))"


def test_reject_with_explicit_skip_and_cancel(calls):
    wf = make([cond(calls, on_reject=OnReject.skip), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert calls.names() == ["b"]
    wf = make([cond(calls, on_reject="cancel"), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Workflow cancelled: Step 'c' was rejected"


def test_reject_with_retry_asks_again(calls):
    wf = make([cond(calls, on_reject="retry")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert only(out.active_requirements).key == "0:confirmation:1"
    assert calls.names() == []


def test_gate_inside_a_branch_pauses_and_the_branch_continues(calls):
    gated = Step(name="yes2", executor=calls.fn("yes2"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Condition(name="c", steps=[calls.fn("yes1"), gated, calls.fn("yes3")]), calls.fn("after")])
    out = wf.run()
    req = only(out.active_requirements)
    assert (req.path, req.key) == ("0/if/1", "0/if/1:confirmation:0")
    req.confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["yes1", "yes2", "yes3", "after"]
    assert out.content == "after(yes3(yes2(yes1(None))))"


def test_evaluator_is_not_consulted_again_on_resume(calls):
    seen = []

    def evaluator(si):
        seen.append(1)
        return len(seen) == 1  # would flip on a second call

    gated = Step(name="g", executor=calls.fn("g"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Condition(name="c", evaluator=evaluator, steps=[gated], else_steps=[calls.fn("no")])])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert seen == [1]
    assert calls.names() == ["g"]
