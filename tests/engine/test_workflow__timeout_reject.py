"""on_timeout="reject": a timed-out requirement counts as a reject of its kind (on_reject applies)."""

import pytest

from workflows.engine import DefinitionError, HumanReview, Loop, OnTimeout, Router, RunStatus, Step

from .helpers import make, only


def timed(**review):
    return HumanReview(timeout=60, on_timeout="reject", **review)


def expire(wf, clock, out):
    clock.advance(61)
    return wf.continue_run(run_id=out.run_id)


def test_on_timeout_reject_is_accepted():
    assert HumanReview(requires_confirmation=True, timeout=5, on_timeout="reject").on_timeout == OnTimeout.reject
    with pytest.raises(DefinitionError):
        HumanReview(requires_confirmation=True, timeout=5, on_timeout="maybe")


def test_confirmation_timeout_rejects_with_on_reject(calls, clock):
    step = Step(name="s", executor=calls.fn("s"), human_review=timed(requires_confirmation=True, on_reject="cancel"))
    wf = make([step, calls.fn("end")], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.CANCELLED and "was rejected" in out.content
    req = out.step_requirements[0]
    assert req.is_timed_out and req.resolved_by == "system"
    assert calls.names() == []


def test_confirmation_timeout_with_default_on_reject_skips(calls, clock):
    step = Step(name="s", executor=calls.fn("s"), human_review=timed(requires_confirmation=True))
    wf = make([step, calls.fn("end")], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.COMPLETED and calls.names() == ["end"]


def test_output_review_timeout_with_retry_runs_the_step_again(calls, clock):
    step = Step(name="s", executor=calls.fn("s"), human_review=timed(requires_output_review=True, on_reject="retry"))
    wf = make([step], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.PAUSED and calls.count("s") == 2
    only(out.steps_requiring_output_review).confirm()
    assert wf.continue_run(out).status == RunStatus.COMPLETED


def test_route_selection_timeout_with_retry_asks_again(calls, clock):
    r = Router(
        name="r",
        choices=[calls.fn("x"), calls.fn("y")],
        human_review=timed(requires_user_input=True, on_reject="retry"),
    )
    wf = make([r], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.PAUSED
    only(out.steps_requiring_route).select("x")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and calls.names() == ["x"]


def test_iteration_review_timeout_runs_another_iteration(calls, clock):
    loop = Loop(name="l", steps=[calls.fn("i")], max_iterations=2, human_review=timed(requires_iteration_review=True))
    wf = make([loop], clock=clock)
    out = expire(wf, clock, wf.run())
    assert out.status == RunStatus.COMPLETED and calls.count("i") == 2


def test_error_pause_timeout_skips_the_step(calls, clock):
    step = Step(name="s", executor=calls.fn("s", fail=5), human_review=timed(on_error="pause"))
    wf = make([step, calls.fn("end")], clock=clock)
    out = wf.run()
    assert out.pause_kind == "error"
    out = expire(wf, clock, out)
    assert out.status == RunStatus.COMPLETED and calls.names() == ["s", "end"]
