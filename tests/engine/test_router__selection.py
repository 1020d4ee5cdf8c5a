"""Router: selector, route selection by a person, confirmation then selection, review and reroute."""

import pytest

from workflows.engine import HumanReview, OnReject, Router, RunStatus, Step, ValidationError

from .helpers import make, only


def router(calls, selector=None, **review):
    return Router(
        name="r",
        choices=[
            Step(name="quick", executor=calls.fn("quick"), description="Fast"),
            Step(name="deep", executor=calls.fn("deep")),
            Step(name="custom", executor=calls.fn("custom")),
        ],
        selector=selector,
        human_review=HumanReview(**review) if review else None,
    )


def test_selector_picks_the_route(calls):
    wf = make([calls.fn("a"), router(calls, selector=lambda si: "deep"), calls.fn("b")])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "deep", "b"]
    assert out.step_results[1].content == "deep(a(None))"
    assert out.step_results[1].metadata == {"routes": ["deep"]}
    assert [s.step_name for s in out.step_results[1].steps] == ["deep"]


def test_selector_may_return_steps_and_lists(calls):
    r = router(calls, selector=lambda si: [si_step for si_step in ("custom", "quick")])
    wf = make([r])
    assert wf.run().content == "quick(custom(None))"
    wf = make(
        [Router(name="r", choices=[Step(name="x", executor=calls.fn("x"))], selector=lambda si: wf.steps[0].choices[0])]
    )
    assert wf.run().content == "x(None)"


def test_selector_choosing_an_unknown_route_fails_the_step(calls):
    wf = make([router(calls, selector=lambda si: "nowhere"), calls.fn("b")])
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert "unknown route 'nowhere'" in out.content
    assert calls.names() == []


def test_selector_error_follows_on_error(calls):
    def broken(si):
        raise KeyError("k")

    wf = make([router(calls, selector=broken, on_error="skip"), calls.fn("b")])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].success is False
    assert calls.names() == ["b"]


def test_route_selection_by_a_person(calls):
    wf = make([router(calls, requires_user_input=True), calls.fn("b")])
    out = wf.run()
    req = only(out.steps_requiring_route)
    assert req.kind == "route_selection"
    assert req.available_choices == ["quick", "deep", "custom"]
    assert req.message == "Select a route from: quick, deep, custom"
    assert req.payload["descriptions"]["quick"] == "Fast"
    assert req.payload["multiple"] is False
    assert out.steps_requiring_confirmation == []
    req.select("deep")
    out = wf.continue_run(out)
    assert calls.names() == ["deep", "b"]
    assert out.step_requirements[0].selected_choices == ["deep"]


def test_route_selection_is_validated(calls):
    wf = make([router(calls, requires_user_input=True)])
    req = only(wf.run().steps_requiring_route)
    with pytest.raises(ValidationError):
        req.select("nowhere")
    with pytest.raises(ValidationError):
        req.select("quick", "deep")
    assert req.local is None


def test_multiple_selection_runs_in_the_order_given_chained(calls):
    wf = make([router(calls, requires_user_input=True, allow_multiple_selections=True)])
    out = wf.run()
    req = only(out.steps_requiring_route)
    assert req.payload["multiple"] is True
    req.select("custom", "quick")
    out = wf.continue_run(out)
    assert calls.names() == ["custom", "quick"]
    assert out.content == "quick(custom(None))"
    assert calls.last("quick").previous_step_content == "custom(None)"
    assert out.step_results[0].metadata == {"routes": ["custom", "quick"]}


def test_route_selection_can_be_rejected(calls):
    wf = make([router(calls, requires_user_input=True), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["b"]
    wf = make([router(calls, requires_user_input=True, on_reject=OnReject.cancel)])
    out = wf.run()
    only(out.active_requirements).reject()
    assert wf.continue_run(out).status == RunStatus.CANCELLED


def test_confirmation_with_selector(calls):
    wf = make([router(calls, selector=lambda si: "quick", requires_confirmation=True), calls.fn("b")])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.message == "Execute router 'r'?"
    req.confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["quick", "b"]
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert calls.names()[2:] == ["b"]


def test_confirmation_then_route_selection_both_happen(calls):
    # agno: after confirming, the selection pause never happened and nothing ran.
    wf = make([router(calls, requires_confirmation=True, requires_user_input=True)])
    out = wf.run()
    only(out.steps_requiring_confirmation).confirm()
    out = wf.continue_run(out)
    req = only(out.steps_requiring_route)
    req.select("custom")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["custom"]
    assert [r.kind for r in out.step_requirements] == ["confirmation", "route_selection"]


def test_output_review_confirm_and_edit(calls):
    wf = make([router(calls, selector=lambda si: "deep", requires_output_review=True), calls.fn("b")])
    out = wf.run()
    req = only(out.steps_requiring_output_review)
    assert req.message == "Review output of router 'r'?"
    assert req.step_output.content == "deep(None)"
    assert req.payload["routes"] == ["deep"]
    assert req.available_choices == ["quick", "deep", "custom"]
    req.edit("DEEP!")
    out = wf.continue_run(out)
    assert out.content == "b(DEEP!)"
    assert calls.count("deep") == 1


def test_output_review_reject_retry_lets_a_person_reroute(calls):
    wf = make([router(calls, selector=lambda si: "deep", requires_output_review=True, on_reject="retry")])
    out = wf.run()
    only(out.active_requirements).reject("try the quick one")
    out = wf.continue_run(out)
    req = only(out.steps_requiring_route)  # a person picks, even though there is a selector
    assert req.attempt == 1
    assert req.payload["feedback"] == "try the quick one"
    req.select("quick")
    out = wf.continue_run(out)
    si = calls.last("quick")
    assert si.additional_data["rejection_feedback"] == "try the quick one"
    assert si.additional_data["previous_output"] == "deep(None)"
    review = only(out.steps_requiring_output_review)  # the new route is reviewed again
    assert review.step_output.content == "quick(None)"
    review.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.content == "quick(None)"
    assert calls.names() == ["deep", "quick"]


def test_reroutes_are_capped_by_max_retries(calls):
    wf = make([router(calls, requires_user_input=True, requires_output_review=True, on_reject="retry", max_retries=1)])
    out = wf.run()
    only(out.active_requirements).select("deep")
    out = wf.continue_run(out)
    only(out.active_requirements).reject("no")
    out = wf.continue_run(out)
    only(out.steps_requiring_route).select("quick")
    out = wf.continue_run(out)
    only(out.active_requirements).reject("still no")
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Max retries (1) reached for step 'r'"


def test_output_review_reject_skip_and_cancel(calls):
    wf = make([router(calls, selector=lambda si: "deep", requires_output_review=True), calls.fn("b")])
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert [r.step_name for r in out.step_results] == ["b"]
    wf = make([router(calls, selector=lambda si: "deep", requires_output_review=True, on_reject="cancel")])
    out = wf.run()
    only(out.active_requirements).reject()
    assert wf.continue_run(out).status == RunStatus.CANCELLED


def test_selector_is_not_called_again_on_resume(calls):
    picks = []

    def selector(si):
        picks.append(1)
        return "quick" if len(picks) == 1 else "deep"

    choices = [
        Step(name="quick", executor=calls.fn("quick"), human_review=HumanReview(requires_confirmation=True)),
        Step(name="deep", executor=calls.fn("deep")),
    ]
    wf = make([Router(name="r", choices=choices, selector=selector)])
    out = wf.run()
    req = only(out.active_requirements)
    assert req.path == "0/choices/0"
    req.confirm()
    out = wf.continue_run(out)
    assert picks == [1]
    assert calls.names() == ["quick"]


def test_nested_list_choice_becomes_a_steps_group(calls):
    wf = make(
        [Router(name="r", choices=[calls.fn("x"), [calls.fn("y"), calls.fn("z")]], selector=lambda si: "steps_group_2")]
    )
    out = wf.run()
    assert calls.names() == ["y", "z"]
    assert out.content == "z(y(None))"
