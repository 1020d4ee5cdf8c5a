"""Loop: start confirmation, iteration review (accept stops, reject runs the next iteration), multi-step numbering."""

import pytest

from workflows.engine import HumanReview, Loop, OnReject, RunStatus, Step

from .helpers import contents, make, only


def counter(calls, name):
    return calls.fn(name, result=lambda si: f"{name}#{si.iteration}")


def test_loop_runs_all_iterations(calls):
    wf = make([Loop(name="l", steps=[counter(calls, "x")], max_iterations=3)])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["x", "x", "x"]
    assert out.content == "x#2"
    assert out.step_results[0].metadata == {"iterations": 3}
    assert [s.content for s in out.step_results[0].steps] == ["x#0", "x#1", "x#2"]


def test_end_condition_stops_the_loop(calls):
    wf = make(
        [
            Loop(
                name="l",
                steps=[counter(calls, "x")],
                max_iterations=5,
                end_condition=lambda outs: outs[-1].content == "x#1",
            )
        ]
    )
    out = wf.run()
    assert calls.names() == ["x", "x"]
    assert out.step_results[0].metadata == {"iterations": 2}


def test_forward_iteration_output(calls):
    step = calls.fn("x", result=lambda si: f"{si.input}+")
    wf = make([Loop(name="l", steps=[step], max_iterations=3, forward_iteration_output=True)])
    assert wf.run("s").content == "s+++"


def test_start_confirmation_confirm_and_reject(calls):
    loop = Loop(
        name="l", steps=[counter(calls, "x")], max_iterations=2, human_review=HumanReview(requires_confirmation=True)
    )
    wf = make([loop, calls.fn("after")])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.message == "Execute loop 'l'?"
    assert calls.names() == []
    req.confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["x", "x", "after"]
    out2 = wf.run()
    only(out2.active_requirements).reject()
    out2 = wf.continue_run(out2)
    assert out2.status == RunStatus.COMPLETED
    assert calls.names()[3:] == ["after"]


def test_start_confirmation_reject_retry_never_runs_the_loop(calls):
    loop = Loop(
        name="l", steps=[counter(calls, "x")], human_review=HumanReview(requires_confirmation=True, on_reject="retry")
    )
    wf = make([loop])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.is_paused
    assert calls.names() == []  # agno ran the loop although the start was rejected
    assert only(out.active_requirements).key == "0:confirmation:1"


def reviewed_loop(calls, steps=None, **kw):
    review = HumanReview(requires_iteration_review=True, **kw.pop("review", {}))
    return Loop(name="l", steps=steps or [counter(calls, "x")], human_review=review, **{"max_iterations": 4, **kw})


def test_iteration_review_pauses_after_each_iteration(calls):
    wf = make([reviewed_loop(calls)])
    out = wf.run()
    req = only(out.steps_requiring_iteration_review)
    assert out.steps_requiring_output_review == [req]  # listed with the reviews, like agno
    assert req.kind == "iteration_review"
    assert req.step_output.content == "x#0"
    assert req.payload["iteration"] == 1 and req.payload["max_iterations"] == 4
    assert "iteration 1 of 4" in req.message
    assert req.path == "0"
    assert calls.names() == ["x"]


def test_accept_stops_looping_and_keeps_the_output(calls):
    wf = make([reviewed_loop(calls), calls.fn("after")])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["x", "after"]
    assert contents(out) == ["x#0", "after(x#0)"]
    assert out.step_results[0].metadata == {"iterations": 1}


def test_reject_runs_the_next_iteration_with_feedback(calls):
    wf = make([reviewed_loop(calls)])
    out = wf.run()
    only(out.active_requirements).reject("more detail")
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.payload["iteration"] == 2
    assert req.step_output.content == "x#1"
    si = calls.last("x")
    assert si.iteration == 1
    assert si.additional_data["rejection_feedback"] == "more detail"
    assert si.additional_data["previous_output"] == "x#0"
    assert si.previous_step_content == "x#0"
    req.confirm()
    out = wf.continue_run(out)
    assert out.content == "x#1"
    assert calls.count("x") == 2


def test_no_review_after_the_last_iteration(calls):
    wf = make([reviewed_loop(calls, max_iterations=2), calls.fn("after")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["x", "x", "after"]
    assert len(out.step_requirements) == 1


def test_no_review_when_the_end_condition_holds(calls):
    wf = make([reviewed_loop(calls, end_condition=lambda outs: True)])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.step_requirements == []


def test_iteration_numbers_are_right_with_multi_step_bodies(calls):
    # agno: two inner steps made the first review say "iteration 2/4" and skip an iteration.
    wf = make([reviewed_loop(calls, steps=[counter(calls, "a"), counter(calls, "b")])])
    out = wf.run()
    req = only(out.active_requirements)
    assert req.payload["iteration"] == 1
    assert req.step_output.content == "b#0"
    req.reject("again")
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.payload["iteration"] == 2
    assert "iteration 2 of 4" in req.message
    assert calls.names() == ["a", "b", "a", "b"]
    assert [si.iteration for si in calls.inputs("a")] == [0, 1]
    req.reject()
    out = wf.continue_run(out)
    assert only(out.active_requirements).payload["iteration"] == 3
    assert [si.iteration for si in calls.inputs("b")] == [0, 1, 2]


def test_every_iteration_gets_the_latest_feedback(calls):
    wf = make([reviewed_loop(calls, steps=[counter(calls, "a"), counter(calls, "b")])])
    out = wf.run()
    only(out.active_requirements).reject("first")
    out = wf.continue_run(out)
    only(out.active_requirements).reject("second")
    out = wf.continue_run(out)
    assert [si.rejection_feedback for si in calls.inputs("a")] == [None, "first", "second"]
    assert [si.rejection_feedback for si in calls.inputs("b")] == [None, "first", "second"]


@pytest.mark.parametrize(
    ("on_reject", "status"), [(OnReject.skip, RunStatus.COMPLETED), (OnReject.cancel, RunStatus.CANCELLED)]
)
def test_reject_with_explicit_skip_or_cancel(calls, on_reject, status):
    wf = make([reviewed_loop(calls, review={"on_reject": on_reject}), calls.fn("after")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == status
    assert calls.count("x") == 1
    if status == RunStatus.COMPLETED:
        assert [r.step_name for r in out.step_results] == ["after"]


def test_custom_iteration_review_message(calls):
    wf = make([reviewed_loop(calls, review={"iteration_review_message": "Good enough?"})])
    assert only(wf.run().active_requirements).message == "Good enough?"


def test_confirmation_and_iteration_review_on_one_loop(calls):
    wf = make([reviewed_loop(calls, review={"requires_confirmation": True}, max_iterations=3)])
    out = wf.run()
    assert only(out.active_requirements).kind == "confirmation"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).kind == "iteration_review"
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.count("x") == 2
    assert [r.kind for r in out.step_requirements] == ["confirmation", "iteration_review", "iteration_review"]


def test_step_gate_inside_a_loop_asks_every_iteration(calls):
    inner = Step(name="x", executor=counter(calls, "x"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Loop(name="l", steps=[inner, counter(calls, "y")], max_iterations=3), calls.fn("after")])
    out = wf.run()
    keys = []
    for _ in range(3):
        req = only(out.active_requirements)
        keys.append(req.key)
        req.confirm()
        out = wf.continue_run(out)
    assert keys == ["0/steps@0/0:confirmation:0", "0/steps@1/0:confirmation:0", "0/steps@2/0:confirmation:0"]
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["x", "y", "x", "y", "x", "y", "after"]
    assert [r.iteration for r in out.step_requirements] == [0, 1, 2]
    assert {r.path for r in out.step_requirements} == {"0/steps/0"}


def test_rejected_step_inside_a_loop_is_skipped_only_in_that_iteration(calls):
    inner = Step(name="x", executor=counter(calls, "x"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Loop(name="l", steps=[inner, counter(calls, "y")], max_iterations=2)])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["y", "x", "y"]
    assert out.content == "y#1"
