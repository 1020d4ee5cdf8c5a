"""Code written against agno's HITL objects runs unchanged where the semantics agree."""

import pytest

from workflows.engine import (
    HumanReview,
    Router,
    RunStateError,
    RunStatus,
    Step,
    StepOutput,
    Steps,
    UserInputField,
)

from .helpers import make, only


def test_confirmation_requirement_attributes(calls, clock):
    step = Step(
        name="s",
        executor=calls.fn("s"),
        human_review=HumanReview(requires_confirmation=True, confirmation_message="Go?", timeout=60),
    )
    wf = make([calls.fn("a"), Steps(name="grp", steps=[step])], clock=clock)
    req = only(wf.run().steps_requiring_confirmation)
    assert req.requires_confirmation and req.confirmation_message == "Go?"
    assert not req.requires_user_input and req.user_input_schema == []
    assert req.step_output is None and not req.is_timed_out
    assert (req.step_index, req.step_type, req.step_name) == (1, "Step", "s")
    assert req.confirmed is None
    req.confirm()
    assert req.confirmed is True


def test_timed_out_requirement(calls, clock):
    review = HumanReview(requires_confirmation=True, timeout=5, on_timeout="skip")
    step = Step(name="s", executor=calls.fn("s"), human_review=review)
    wf = make([step], clock=clock)
    out = wf.run()
    clock.advance(6)
    out = wf.continue_run(run_id=out.run_id)
    assert out.step_requirements[0].is_timed_out


def test_output_review_step_output_is_a_step_output(calls):
    step = Step(name="s", executor=calls.fn("s"), human_review=HumanReview(requires_output_review=True))
    req = only(make([step]).run().steps_requiring_output_review)
    assert isinstance(req.step_output, StepOutput)
    assert req.step_output.content == "s(None)" and req.step_output.step_name == "s"
    assert req.requires_output_review and not req.requires_confirmation


def test_error_requirement_attributes(calls):
    step = Step(name="s", executor=calls.fn("s", fail=9, error="kaput"), human_review=HumanReview(on_error="pause"))
    req = only(make([step]).run().steps_with_errors)
    assert req.error_type == "RuntimeError" and req.error_message == "kaput" and req.retry_count == 0


def test_route_requirement_type(calls):
    r = Router(name="r", choices=[calls.fn("x")], human_review=HumanReview(requires_user_input=True))
    req = only(make([r]).run().steps_requiring_route)
    assert req.step_type == "Router" and req.requires_route_selection and req.available_choices == ["x"]


def both(calls):
    return Step(
        name="book",
        executor=calls.fn("book", result=lambda si: si.user_input),
        human_review=HumanReview(
            requires_confirmation=True,
            confirmation_message="Book it?",
            requires_user_input=True,
            user_input_schema=[UserInputField("city")],
        ),
    )


def test_a_step_asking_confirmation_and_input_is_listed_in_both(calls):
    wf = make([both(calls)])
    out = wf.run()
    (req,) = out.steps_requiring_confirmation
    assert out.steps_requiring_user_input == [req]
    assert req.requires_confirmation and req.requires_user_input and req.confirmation_message == "Book it?"
    req.set_user_input(city="Oslo")
    req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and out.content == {"city": "Oslo"}


def test_input_given_but_not_confirmed_is_refused(calls):
    wf = make([both(calls)])
    out = wf.run()
    out.steps_requiring_user_input[0].set_user_input(city="Oslo")
    with pytest.raises(RunStateError, match="not confirmed.*book"):
        wf.continue_run(out)
    assert wf.get_run_output(out.run_id).status == RunStatus.PAUSED  # nothing was stored
    assert calls.names() == []


@pytest.mark.parametrize("listed", ["steps_requiring_confirmation", "steps_requiring_user_input"])
def test_reject_from_either_list_rejects(calls, listed):
    wf = make([both(calls), calls.fn("end")])
    out = wf.run()
    getattr(out, listed)[0].reject("no")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and calls.names() == ["end"]


def test_session_state_given_to_run_is_kept_across_resumes(calls):
    def count(step_input, session_state):  # agno passes session_state to functions that take it
        session_state["visits"] = session_state.get("visits", 0) + 1
        return session_state["visits"]

    def read(step_input):
        return dict(step_input.session_state)

    gate = Step(name="gate", executor=calls.fn("gate"), human_review=HumanReview(requires_confirmation=True))
    wf = make([Step(name="count", executor=count), gate, Step(name="read", executor=read)])
    out = wf.run(session_state={"user": "ann"})
    assert out.session_state == {"user": "ann", "visits": 1}
    assert wf.get_session_state(out.run_id) == {"user": "ann", "visits": 1}
    only(out.steps_requiring_confirmation).confirm()
    out = wf.continue_run(out)
    assert out.content == {"user": "ann", "visits": 1}
    assert wf.get_session_state(out.run_id) == {"user": "ann", "visits": 1}


def test_agno_helpers_on_requirements_and_outputs(calls):
    r = Router(
        name="r",
        choices=[calls.fn("x"), calls.fn("y")],
        human_review=HumanReview(requires_user_input=True, allow_multiple_selections=True),
    )
    review = Step(name="s", executor=calls.fn("s"), human_review=HumanReview(requires_output_review=True))
    wf = make([r, review, both(calls)])
    out = wf.run()
    req = only(out.steps_requiring_route)
    assert req.needs_route_selection and not req.needs_confirmation
    req.select_multiple(["x", "y"])
    assert not req.needs_route_selection and req.selected_choices == ["x", "y"]
    out = wf.continue_run(out)
    req = only(out.steps_requiring_output_review)
    assert req.needs_output_review
    req.edit("better")
    assert req.edited_output == "better" and req.confirmed is True
    out = wf.continue_run(out)
    req = only(out.steps_requiring_user_input)
    assert req.needs_confirmation and req.needs_user_input
    req.set_user_input(city="Rome")
    assert req.get_user_input("city") == "Rome"
    req.reject("not now")
    assert req.rejection_feedback == "not now" and req.confirmed is False
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and out.error_requirements == out.active_error_requirements == []
