"""UserInputField limits: min_value, max_value, max_length and pattern, checked by the one validation
function (clean_decision) and refused at definition time when they make no sense."""

from __future__ import annotations

import pytest

from workflows.engine.errors import DefinitionError, ValidationError
from workflows.engine.primitives import UserInputField
from workflows.engine.requirements import Requirement, clean_decision


def _req(*fields: UserInputField) -> Requirement:
    return Requirement(
        run_id="r",
        key="k",
        path="0",
        step_name="s",
        kind="user_input",
        payload={"schema": [f.to_dict() for f in fields]},
    )


def test_numbers_outside_their_bounds_are_refused():
    req = _req(UserInputField("days", field_type="int", min_value=1, max_value=365))
    assert clean_decision(req, "submit", {"values": {"days": 30}})["values"] == {"days": 30}
    for value, message in ((10**22, "Must be at most 365."), (0, "Must be at least 1."), (-5, "Must be at least 1.")):
        with pytest.raises(ValidationError) as exc:
            clean_decision(req, "submit", {"values": {"days": value}})
        assert exc.value.errors == {"days": message}


def test_a_negative_amount_is_refused_by_min_value_zero():
    req = _req(UserInputField("amount", field_type="float", min_value=0))
    assert clean_decision(req, "submit", {"values": {"amount": 0}})["values"] == {"amount": 0.0}
    with pytest.raises(ValidationError):
        clean_decision(req, "submit", {"values": {"amount": -0.01}})


def test_text_longer_than_max_length_is_refused():
    req = _req(UserInputField("city", max_length=100))
    assert clean_decision(req, "submit", {"values": {"city": "Oslo"}})["values"] == {"city": "Oslo"}
    with pytest.raises(ValidationError) as exc:
        clean_decision(req, "submit", {"values": {"city": "x" * 5000}})
    assert exc.value.errors == {"city": "At most 100 characters."}


def test_a_list_longer_than_max_length_is_refused():
    req = _req(UserInputField("tags", field_type="list", max_length=2))
    with pytest.raises(ValidationError) as exc:
        clean_decision(req, "submit", {"values": {"tags": [1, 2, 3]}})
    assert exc.value.errors == {"tags": "At most 2 items."}


def test_text_must_match_the_pattern_in_full():
    req = _req(UserInputField("code", pattern=r"[A-Z]{3}"))
    assert clean_decision(req, "submit", {"values": {"code": "NOK"}})["values"] == {"code": "NOK"}
    for value in ("nok", "NOKK", "NO"):
        with pytest.raises(ValidationError) as exc:
            clean_decision(req, "submit", {"values": {"code": value}})
        assert exc.value.errors == {"code": "Does not have the expected format."}


def test_wrong_types_are_said_in_words():
    req = _req(UserInputField("n", field_type="int"), UserInputField("city"))
    with pytest.raises(ValidationError) as exc:
        clean_decision(req, "submit", {"values": {"n": "ten", "city": 3}})
    assert exc.value.errors == {"n": "Enter a whole number.", "city": "Enter text."}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"field_type": "str", "min_value": 1},
        {"field_type": "int", "min_value": "1"},
        {"field_type": "int", "min_value": 5, "max_value": 1},
        {"field_type": "float", "max_value": float("inf")},
        {"field_type": "int", "max_length": 3},
        {"field_type": "str", "max_length": 0},
        {"field_type": "str", "max_length": True},
        {"field_type": "int", "pattern": "[0-9]"},
        {"field_type": "str", "pattern": "(unclosed"},
    ],
)
def test_limits_that_make_no_sense_are_refused_at_definition(kwargs):
    with pytest.raises(DefinitionError):
        UserInputField("f", **kwargs)


def test_limits_survive_the_payload_roundtrip():
    field = UserInputField("days", field_type="int", min_value=1, max_value=9, required=False)
    text = UserInputField("city", max_length=10, pattern="[a-z]+")
    assert UserInputField.coerce(field.to_dict()) == field
    assert UserInputField.coerce(text.to_dict()) == text
