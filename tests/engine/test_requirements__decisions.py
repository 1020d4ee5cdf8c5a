"""Decisions on requirements: which actions each kind takes, and validation of their data."""

import pytest

from workflows.engine import (
    DecisionError,
    ExpiredError,
    HumanReview,
    Requirement,
    Router,
    Step,
    UserInputField,
    ValidationError,
)
from workflows.engine.requirements import ACTIONS, KINDS, MAX_FEEDBACK, clean_decision, effective_action

from .helpers import make, only


def req(kind, **payload):
    return Requirement(run_id="r", key="0:x:0", path="0", step_name="s", kind=kind, payload=payload)


SCHEMA = [
    UserInputField("city").to_dict(),
    UserInputField("days", field_type="int").to_dict(),
    UserInputField("budget", field_type="float", required=False).to_dict(),
    UserInputField("vip", field_type="bool", required=False).to_dict(),
    UserInputField("tier", allowed_values=("gold", "silver"), required=False).to_dict(),
    UserInputField("tags", field_type="list", required=False).to_dict(),
    UserInputField("meta", field_type="dict", required=False).to_dict(),
]


def test_every_kind_has_actions():
    assert set(ACTIONS) == set(KINDS)
    for kind in KINDS:
        if kind != "error":
            assert "reject" in ACTIONS[kind]  # nothing a person sees is unrejectable


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("confirmation", "edit"),
        ("confirmation", "select"),
        ("error", "confirm"),
        ("error", "reject"),
        ("output_review", "submit"),
        ("route_selection", "confirm"),
        ("iteration_review", "edit"),
        ("external_execution", "confirm"),
        ("user_input", "confirm"),
        ("confirmation", "bogus"),
    ],
)
def test_wrong_action_for_kind_raises_decision_error(kind, action):
    with pytest.raises(DecisionError, match=kind):
        clean_decision(req(kind), action)


def test_reject_feedback_is_checked():
    assert clean_decision(req("confirmation"), "reject", {"feedback": "no"}) == {"action": "reject", "feedback": "no"}
    assert clean_decision(req("confirmation"), "reject", None) == {"action": "reject", "feedback": None}
    with pytest.raises(ValidationError) as info:
        clean_decision(req("confirmation"), "reject", {"feedback": 3})
    assert "feedback" in info.value.errors
    with pytest.raises(ValidationError):
        clean_decision(req("confirmation"), "reject", {"feedback": "x" * (MAX_FEEDBACK + 1)})
    with pytest.raises(ValidationError, match="object"):
        clean_decision(req("confirmation"), "reject", "nope")


def test_submit_validates_types_and_cleans():
    r = req("user_input", schema=SCHEMA)
    good = clean_decision(r, "submit", {"values": {"city": "Oslo", "days": 3, "budget": 10, "tags": ["a"]}})
    assert good == {"action": "submit", "values": {"city": "Oslo", "days": 3, "budget": 10.0, "tags": ["a"]}}
    assert isinstance(good["values"]["budget"], float)
    # The values may also be given directly.
    assert clean_decision(r, "submit", {"city": "Oslo", "days": 1})["values"] == {"city": "Oslo", "days": 1}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"days": 3}, "city"),
        ({"city": "", "days": 3}, "city"),
        ({"city": "Oslo", "days": "3"}, "days"),
        ({"city": "Oslo", "days": True}, "days"),
        ({"city": "Oslo", "days": 1, "budget": True}, "budget"),
        ({"city": "Oslo", "days": 1, "vip": "yes"}, "vip"),
        ({"city": "Oslo", "days": 1, "tier": "bronze"}, "tier"),
        ({"city": "Oslo", "days": 1, "tags": "a,b"}, "tags"),
        ({"city": "Oslo", "days": 1, "meta": []}, "meta"),
        ({"city": "Oslo", "days": 1, "extra": 1}, "extra"),
    ],
)
def test_submit_reports_each_bad_field(values, field):
    with pytest.raises(ValidationError) as info:
        clean_decision(req("user_input", schema=SCHEMA), "submit", {"values": values})
    assert field in info.value.errors


def test_submit_reports_all_errors_at_once():
    with pytest.raises(ValidationError) as info:
        clean_decision(req("user_input", schema=SCHEMA), "submit", {"values": {"days": "x", "tier": "no"}})
    assert set(info.value.errors) == {"city", "days", "tier"}


def test_select_is_validated_against_the_choices():
    r = req("route_selection", choices=["a", "b", "c"], multiple=False)
    assert clean_decision(r, "select", {"choices": "a"}) == {"action": "select", "choices": ["a"]}
    for bad in ({"choices": ["z"]}, {"choices": []}, {}, {"choices": ["a", "b"]}, {"choices": 3}):
        with pytest.raises(ValidationError) as info:
            clean_decision(r, "select", bad)
        assert "choices" in info.value.errors
    multi = req("route_selection", choices=["a", "b", "c"], multiple=True)
    assert clean_decision(multi, "select", {"choices": ["c", "a"]})["choices"] == ["c", "a"]
    with pytest.raises(ValidationError, match="once"):
        clean_decision(multi, "select", {"choices": ["a", "a"]})


def test_edit_and_provide_result_need_their_value():
    with pytest.raises(ValidationError):
        clean_decision(req("output_review"), "edit", {})
    assert clean_decision(req("output_review"), "edit", {"output": {"k": 1}}) == {"action": "edit", "output": {"k": 1}}
    with pytest.raises(ValidationError):  # null is no edit: it would replace the output with nothing
        clean_decision(req("output_review"), "edit", {"output": None})
    with pytest.raises(ValidationError):
        clean_decision(req("external_execution"), "provide_result", {"result": None})
    assert clean_decision(req("external_execution"), "provide_result", {"result": 0})["result"] == 0


def test_methods_record_a_local_decision_only():
    r = req("confirmation")
    assert r.is_resolved is False
    r.confirm()
    assert r.local == {"action": "confirm"}
    assert r.status == "PENDING"  # stored only by continue_run
    assert r.is_resolved is True
    assert r.action == "confirm"
    r.reject("changed my mind")  # a later local decision replaces the earlier one
    assert r.local == {"action": "reject", "feedback": "changed my mind"}


def test_set_user_input_may_be_given_in_parts():
    r = req("user_input", schema=SCHEMA)
    r.set_user_input(city="Oslo")
    assert r.local is None  # days still missing
    assert r.user_input == {"city": "Oslo"}
    r.set_user_input(days=2)
    assert r.local == {"action": "submit", "values": {"city": "Oslo", "days": 2}}
    with pytest.raises(ValidationError):
        req("user_input", schema=SCHEMA).set_user_input(days="two")
    with pytest.raises(ValidationError):
        req("user_input", schema=SCHEMA).set_user_input(nope=1)


def test_deciding_a_stored_decision_again_is_refused():
    r = req("confirmation")
    r.status = "RESOLVED"
    with pytest.raises(DecisionError, match="resolved"):
        r.confirm()


def test_deciding_after_the_deadline_raises_expired(clock):
    wf = make(
        [Step(name="s", executor=lambda si: 1, human_review=HumanReview(requires_confirmation=True, timeout=60))],
        clock=clock,
    )
    out = wf.run()
    r = only(out.steps_requiring_confirmation)
    clock.advance(59)
    r.confirm()  # still in time
    clock.advance(1)
    with pytest.raises(ExpiredError):
        r.reject()


def test_requirement_round_trips_through_a_dict():
    r = req("route_selection", choices=["a"])
    r.resolution = {"action": "select", "choices": ["a"]}
    again = Requirement.from_dict(r.to_dict())
    assert again.to_dict() == r.to_dict()
    assert again.selected_choices == ["a"]
    assert again.available_choices == ["a"]


def test_effective_action_of_a_timed_out_requirement():
    r = req("confirmation")
    r.status, r.resolution = "EXPIRED", {"action": "timed_out", "on_timeout": "approve"}
    assert effective_action(r) == "confirm"
    r.resolution["on_timeout"] = "skip"
    assert effective_action(r) == "timeout_skip"
    r.resolution["on_timeout"] = "cancel"
    assert effective_action(r) == "timeout_cancel"
    r.kind, r.resolution["on_timeout"] = "error", "approve"
    assert effective_action(r) == "retry"


def test_route_selection_on_a_router_is_validated_through_the_run_output():
    wf = make([Router(name="r", choices=[lambda si: 1], human_review=HumanReview(requires_user_input=True))])
    r = only(wf.run().steps_requiring_route)
    with pytest.raises(ValidationError):
        r.select("nope")
    with pytest.raises(ValidationError):
        r.select()
