"""Step output review: confirm, edit, reject with skip / cancel / retry, predicates, edits stay on their step."""

from workflows.engine import HumanReview, OnReject, RunStatus, Step, StepOutput

from .helpers import contents, make, only


def reviewed(calls, name="draft", result=None, **review):
    return Step(
        name=name,
        executor=calls.fn(name, result=result),
        human_review=HumanReview(requires_output_review=True, **review),
    )


def test_pauses_after_the_step_with_its_output(calls):
    wf = make([calls.fn("a"), reviewed(calls), calls.fn("send")])
    out = wf.run()
    assert out.is_paused and out.pause_kind == "step"
    req = only(out.steps_requiring_output_review)
    assert req.kind == "output_review"
    assert req.step_output.content == "draft(a(None))"
    assert req.message == "Review output of step 'draft'?"
    assert out.steps_requiring_confirmation == []
    assert calls.names() == ["a", "draft"]


def test_confirm_keeps_the_output_and_does_not_rerun(calls):
    wf = make([calls.fn("a"), reviewed(calls), calls.fn("send")])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "draft", "send"]
    assert contents(out) == ["a(None)", "draft(a(None))", "send(draft(a(None)))"]


def test_edit_replaces_the_output_for_later_steps(calls):
    wf = make([reviewed(calls), calls.fn("send", result=lambda si: si.previous_step_content)])
    out = wf.run()
    only(out.active_requirements).edit({"subject": "Hi", "n": 1})
    out = wf.continue_run(out)
    assert out.content == {"subject": "Hi", "n": 1}  # a dict stays a dict
    assert out.step_results[0].content == {"subject": "Hi", "n": 1}
    assert out.step_results[0].metadata == {"edited": True}
    assert calls.count("draft") == 1


def test_reject_default_skips_the_output(calls):
    wf = make([calls.fn("a"), reviewed(calls), calls.fn("send")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert [r.step_name for r in out.step_results] == ["a", "send"]
    assert calls.count("draft") == 1


def test_reject_cancel(calls):
    wf = make([reviewed(calls, on_reject=OnReject.cancel), calls.fn("send")])
    out = wf.run()
    only(out.active_requirements).reject("bad")
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Workflow cancelled: Step 'draft' was rejected"
    assert "send" not in calls.names()


def test_reject_retry_reruns_with_feedback_and_previous_output(calls):
    wf = make([reviewed(calls, result=lambda si: f"v{calls.count('draft')}", on_reject="retry"), calls.fn("send")])
    out = wf.run()
    first = only(out.active_requirements)
    assert first.step_output.content == "v1"
    first.reject("shorter please")
    out = wf.continue_run(out)
    second = only(out.steps_requiring_output_review)
    assert second.step_output.content == "v2"
    assert second.attempt == second.retry_count == 1
    assert second.key == "0:output_review:1"
    si = calls.last("draft")
    assert si.additional_data["rejection_feedback"] == "shorter please"
    assert si.rejection_feedback == "shorter please"
    assert si.additional_data["previous_output"] == "v1"
    second.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert contents(out) == ["v2", "send(v2)"]
    assert calls.names() == ["draft", "draft", "send"]


def test_reject_retry_cancels_after_max_retries(calls):
    wf = make([reviewed(calls, on_reject="retry", max_retries=2)])
    out = wf.run()
    for n in range(2):
        only(out.active_requirements).reject(f"no {n}")
        out = wf.continue_run(out)
        assert out.is_paused
    only(out.active_requirements).reject("still no")
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Max retries (2) reached for step 'draft'"
    assert calls.count("draft") == 3  # the step ran 3 times, the 3rd rejection cancelled


def test_default_max_retries_is_three(calls):
    wf = make([reviewed(calls, on_reject="retry")])
    out = wf.run()
    for _ in range(3):
        only(out.active_requirements).reject()
        out = wf.continue_run(out)
        assert out.is_paused
    only(out.active_requirements).reject()
    assert wf.continue_run(out).status == RunStatus.CANCELLED
    assert calls.count("draft") == 4


def test_predicate_decides_whether_to_review(calls):
    risky = HumanReview(requires_output_review=lambda out: "risk" in str(out.content))
    wf = make(
        [
            Step(name="safe", executor=calls.fn("safe", result="ok"), human_review=risky),
            Step(name="risky", executor=calls.fn("risky", result="risk!"), human_review=risky),
        ]
    )
    out = wf.run()
    assert only(out.active_requirements).step_name == "risky"


def test_predicate_that_raises_still_asks_for_review(calls):
    def broken(out):
        raise ValueError("oops")

    wf = make([Step(name="s", executor=calls.fn("s"), human_review=HumanReview(requires_output_review=broken))])
    out = wf.run()
    assert only(out.steps_requiring_output_review).step_name == "s"  # a broken predicate must not bypass it


def test_confirmation_then_output_review_on_one_step(calls):
    review = HumanReview(requires_confirmation=True, requires_output_review=True, on_reject="retry")
    wf = make([Step(name="s", executor=calls.fn("s"), human_review=review)])
    out = wf.run()
    assert only(out.active_requirements).kind == "confirmation"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).kind == "output_review"
    only(out.active_requirements).reject("again")
    out = wf.continue_run(out)
    # The retry re-runs the step without asking for confirmation again.
    assert only(out.active_requirements).kind == "output_review"
    assert calls.count("s") == 2
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert [r.kind for r in out.step_requirements] == ["confirmation", "output_review", "output_review"]


def test_edit_applies_only_to_the_reviewed_step(calls):
    # agno: editing s1 then confirming s2 unchanged leaked the edit into s2.
    wf = make([reviewed(calls, name="s1"), reviewed(calls, name="s2"), calls.fn("s3")])
    out = wf.run()
    only(out.active_requirements).edit("EDIT-1")
    out = wf.continue_run(out)
    req2 = only(out.active_requirements)
    assert req2.step_output.content == "s2(EDIT-1)"
    req2.confirm()
    out = wf.continue_run(out)
    assert contents(out) == ["EDIT-1", "s2(EDIT-1)", "s3(s2(EDIT-1))"]


def test_step_output_object_is_kept(calls):
    wf = make(
        [
            Step(
                name="s",
                executor=lambda si: StepOutput(content="x", metadata={"m": 1}),
                human_review=HumanReview(requires_output_review=True),
            )
        ]
    )
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.step_results[0].step_name == "s"
    assert out.step_results[0].metadata == {"m": 1}
    assert out.step_results[0].success is True


def test_review_payload_shows_the_input(calls):
    wf = make([reviewed(calls)])
    out = wf.run({"topic": "x"})
    assert only(out.active_requirements).payload["input"] == {"topic": "x"}
