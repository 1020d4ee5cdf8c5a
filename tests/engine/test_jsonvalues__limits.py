"""The one check of what JSON the system accepts, and the Python API's entry points that use it
(``Workflow.run`` and every decision through ``clean_decision``)."""

import json

import pytest

from workflows.engine import HumanReview, Requirement, Step, ValidationError, Workflow
from workflows.engine.jsonvalues import MAX_DEPTH, MalformedJSON, check_json, parse_json
from workflows.engine.requirements import clean_decision


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


BAD_VALUES = {
    "lone_surrogate": "a\ud800",
    "low_surrogate_in_list": ["\udc00"],
    "nul": {"a": "b\x00"},
    "surrogate_key": {"\ud800": 1},
    "nul_key": {"\x00": 1},
    "infinity": float("inf"),
    "nan": [float("nan")],
    "too_deep": nested(MAX_DEPTH + 1),
    "very_deep": nested(100_000),  # refused without recursion: no RecursionError
    "not_json": {"when": object()},
    "huge_integer": 10**5000,
    "too_big": "x" * 1_000_001,
}


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_check_json_refuses(value):
    with pytest.raises(ValidationError) as refused:
        check_json(value, "input")
    assert list(refused.value.errors) == ["input"]


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**70), 1.5, "", "text \U0001f600 ✓", [], {}, {"a": [1, {"b": None}]}, nested(MAX_DEPTH)],
)
def test_check_json_accepts(value):
    check_json(value, "input")


@pytest.mark.parametrize(
    ("text", "malformed"),
    [
        ("NaN", True),
        ("[Infinity]", True),
        ("{", True),
        ("9" * 5000, True),  # more digits than Python converts
        ("[" * 100_000, True),  # deeper than the parser goes
        ("1e400", False),  # JSON, but infinite once parsed
        ('"\\ud800"', False),
        ('"\\u0000"', False),
        (json.dumps(nested(MAX_DEPTH + 1)), False),
    ],
)
def test_parse_json_refuses(text, malformed):
    with pytest.raises(ValidationError) as refused:
        parse_json(text, "body")
    assert isinstance(refused.value, MalformedJSON) is malformed
    with pytest.raises(ValidationError):
        parse_json(text.encode(), "body")


def test_parse_json_refuses_bytes_that_are_not_utf8():
    with pytest.raises(MalformedJSON):
        parse_json(b'"\xff"', "body")


@pytest.mark.parametrize("value", ["a\x00", float("nan"), nested(MAX_DEPTH + 1)], ids=["nul", "nan", "deep"])
def test_workflow_run_refuses_bad_input_and_stores_nothing(memory_store, value):
    wf = Workflow("w", [lambda si: "ok"])
    with pytest.raises(ValidationError):
        wf.run(value)
    with pytest.raises(ValidationError):
        wf.run("ok", additional_data={"a": value})
    assert not memory_store._runs


def test_every_decision_is_checked_and_names_the_field():
    def requirement(kind, **payload):
        return Requirement(run_id="r", key="0:x:0", path="0", step_name="s", kind=kind, payload=payload)

    cases = [
        (requirement("confirmation"), "reject", {"feedback": "no\x00"}, "feedback"),
        (requirement("output_review", output={}), "edit", {"output": {"x": float("inf")}}, "output"),
        (requirement("external_execution"), "provide_result", {"result": "\ud800"}, "result"),
        (requirement("user_input", schema=[{"name": "city"}]), "submit", {"values": {"city": "\x00"}}, "city"),
        (requirement("route_selection", choices=["a"]), "select", {"choices": ["\ud800"]}, "choices"),
        (requirement("confirmation"), "confirm", {"note": nested(MAX_DEPTH)}, "data"),
    ]
    for req, action, data, field in cases:
        with pytest.raises(ValidationError) as refused:
            clean_decision(req, action, data)
        assert field in refused.value.errors, (action, refused.value.errors)


def test_a_python_decision_with_bad_data_is_refused(memory_store):
    wf = Workflow(
        "w", [Step(name="s", executor=lambda si: "draft", human_review=HumanReview(requires_confirmation=True))]
    )
    out = wf.run("x")
    with pytest.raises(ValidationError):
        out.steps_requiring_confirmation[0].reject(feedback="no\x00")
