"""Steps (a named pipeline): confirmation gates the whole pipeline; inner gates resume the rest."""

import pytest

from workflows.engine import HumanReview, OnReject, RunStatus, Step, Steps

from .helpers import make, only


def pipeline(calls, **review):
    return Steps(
        name="p",
        steps=[calls.fn("s1"), calls.fn("s2")],
        human_review=HumanReview(requires_confirmation=True, **review),
    )


def test_confirm_runs_every_inner_step(calls):
    wf = make([pipeline(calls), calls.fn("after")])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.message == "Execute steps pipeline 'p'?"
    assert req.payload == {"steps": ["s1", "s2"]}
    req.confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["s1", "s2", "after"]
    assert out.step_results[0].content == "s2(s1(None))"
    assert [s.step_name for s in out.step_results[0].steps] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("on_reject", "status", "ran"),
    [
        (None, RunStatus.COMPLETED, ["after"]),
        (OnReject.skip, RunStatus.COMPLETED, ["after"]),
        (OnReject.cancel, RunStatus.CANCELLED, []),
    ],
)
def test_reject_skips_or_cancels_the_pipeline(calls, on_reject, status, ran):
    wf = make([pipeline(calls, on_reject=on_reject), calls.fn("after")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == status
    assert calls.names() == ran


def test_reject_retry_re_asks(calls):
    wf = make([pipeline(calls, on_reject="retry", max_retries=1)])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Max retries (1) reached for step 'p'"
    assert calls.names() == []


def test_inner_gates_pause_and_the_pipeline_resumes(calls):
    inner = Step(name="s2", executor=calls.fn("s2"), human_review=HumanReview(requires_output_review=True))
    wf = make([Steps(name="p", steps=[calls.fn("s1"), inner, calls.fn("s3")]), calls.fn("after")])
    out = wf.run()
    req = only(out.active_requirements)
    assert (req.path, req.step_name, out.paused_step_name) == ("0/steps/1", "s2", "s2")
    req.confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["s1", "s2", "s3", "after"]
    assert calls.count("s1") == 1  # completed inner steps never rerun


def test_pipeline_gate_then_inner_gate(calls):
    inner = Step(name="s2", executor=calls.fn("s2"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Steps(name="p", steps=[calls.fn("s1"), inner], human_review=HumanReview(requires_confirmation=True))])
    out = wf.run()
    assert only(out.active_requirements).step_name == "p"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).step_name == "s2"
    only(out.active_requirements).confirm()
    assert wf.continue_run(out).content == "s2(s1(None))"


def test_empty_inner_result_when_all_inner_steps_skipped(calls):
    inner = Step(name="s1", executor=calls.fn("s1"), human_review=HumanReview(requires_confirmation=True))
    wf = make([calls.fn("a"), Steps(name="p", steps=[inner]), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.step_results[1].content is None
    assert out.step_results[1].steps == []
