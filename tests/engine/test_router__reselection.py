"""A rejected route selection with on_reject=retry asks again, with the feedback, at most
max_retries times; other on_reject values still apply."""

from workflows.engine import HumanReview, OnReject, Router, RunStatus

from .helpers import make, only


def router(calls, **review):
    return Router(
        name="r",
        choices=[calls.fn("x"), calls.fn("y")],
        human_review=HumanReview(requires_user_input=True, **review),
    )


def test_reject_with_retry_asks_again_with_the_feedback(calls):
    wf = make([router(calls, on_reject=OnReject.retry), calls.fn("end")])
    out = wf.run()
    only(out.steps_requiring_route).reject("not x, try again")
    out = wf.continue_run(out)
    assert out.status == RunStatus.PAUSED
    again = only(out.steps_requiring_route)
    assert again.payload["feedback"] == "not x, try again"
    assert again.available_choices == ["x", "y"]
    again.select("y")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.content == "end(y(None))"
    assert calls.names() == ["y", "end"]


def test_re_asking_stops_at_max_retries(calls):
    wf = make([router(calls, on_reject=OnReject.retry, max_retries=2), calls.fn("end")])
    out = wf.run()
    for _ in range(2):
        only(out.steps_requiring_route).reject("no")
        out = wf.continue_run(out)
        assert out.status == RunStatus.PAUSED
    only(out.steps_requiring_route).reject("still no")
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert "Max retries (2) reached for router 'r'" in out.content
    assert calls.names() == []


def test_reject_without_retry_applies_on_reject(calls):
    wf = make([router(calls), calls.fn("end")])  # default: skip the router
    out = wf.run()
    only(out.steps_requiring_route).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and calls.names() == ["end"]

    wf = make([router(calls, on_reject=OnReject.cancel), calls.fn("end")])
    out = wf.run()
    only(out.steps_requiring_route).reject()
    assert wf.continue_run(out).status == RunStatus.CANCELLED
