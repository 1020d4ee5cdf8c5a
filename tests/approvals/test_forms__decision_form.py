"""DecisionForm: strings in, typed decision data out (validation itself is clean_decision's)."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from approvals.forms import MAX_FIELD_BYTES, NON_FIELD, DecisionForm
from workflows.models import Requirement


def requirement(kind="user_input", **payload) -> Requirement:
    return Requirement(kind=kind, payload=payload, version=3)


def form_for(req, **data) -> DecisionForm:
    query = QueryDict(mutable=True)
    for key, value in data.items():
        if isinstance(value, list):
            query.setlist(key, value)
        else:
            query[key] = value
    form = DecisionForm(req, query)
    form.is_valid()
    return form


SCHEMA = [
    {"name": "n", "field_type": "int"},
    {"name": "f", "field_type": "float"},
    {"name": "b", "field_type": "bool"},
    {"name": "s", "field_type": "str"},
    {"name": "l", "field_type": "list"},
    {"name": "d", "field_type": "dict"},
    {"name": "level", "field_type": "int", "allowed_values": [1, 2]},
]


def test_converts_each_field_type():
    form = form_for(
        requirement(schema=SCHEMA),
        version="3",
        action="submit",
        **{
            "value-n": "7",
            "value-f": "2.5",
            "value-b": "true",
            "value-s": " hi ",
            "value-l": "[1]",
            "value-d": '{"k": null}',
            "value-level": "2",
        },
    )
    assert not form.errors
    assert form.version == 3
    assert form.data == {"values": {"n": 7, "f": 2.5, "b": True, "s": "hi", "l": [1], "d": {"k": None}, "level": 2}}


def test_empty_fields_are_left_out_for_clean_decision_to_judge():
    form = form_for(requirement(schema=SCHEMA), version="3", action="submit")
    assert not form.errors
    assert form.data == {"values": {"b": False}}


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("n", "1.5", "Enter a whole number."),
        ("f", "abc", "Enter a number."),
        ("f", "nan", "Enter a finite number."),
        ("l", "[1,", "Enter valid JSON"),
        ("s", "x" * (MAX_FIELD_BYTES + 1), "at most 100 KB"),
    ],
)
def test_conversion_errors_are_field_errors(name, raw, message):
    form = form_for(requirement(schema=SCHEMA), version="3", action="submit", **{f"value-{name}": raw})
    assert message in form.errors[name]


def test_widgets_follow_field_types():
    widgets = {f.name: (f.widget, f.step) for f in DecisionForm(requirement(schema=SCHEMA)).input_fields}
    assert widgets == {
        "n": ("number", "1"),
        "f": ("number", "any"),
        "b": ("checkbox", ""),
        "s": ("text", ""),
        "l": ("textarea", ""),
        "d": ("textarea", ""),
        "level": ("select", ""),
    }


def test_missing_or_bad_version():
    assert NON_FIELD in form_for(requirement(), action="confirm").errors
    assert NON_FIELD in form_for(requirement(), action="confirm", version="x").errors


def test_edit_keeps_text_for_text_outputs_and_parses_json_otherwise():
    text = form_for(requirement("output_review", output="old"), version="1", action="edit", output="a\r\nb")
    assert text.data == {"output": "a\nb"}
    structured = form_for(requirement("output_review", output={"a": 1}), version="1", action="edit", output='{"a": 2}')
    assert structured.data == {"output": {"a": 2}}
    bad = form_for(requirement("output_review", output={"a": 1}), version="1", action="edit", output="{")
    assert "Enter valid JSON" in bad.errors["output"]
    missing = form_for(requirement("output_review", output="x"), version="1", action="edit")
    assert missing.errors["output"] == "This field is required."


def test_edit_preview_token_binds_the_exact_output():
    form = form_for(requirement("output_review", output="old"), version="1", action="edit", output="new")
    assert not form.edit_confirmed(htmx=False)
    confirmed = form_for(
        requirement("output_review", output="old"),
        version="1",
        action="edit",
        output="new",
        confirmed=form.preview_token,
    )
    assert confirmed.edit_confirmed(htmx=False)
    live = form_for(
        requirement("output_review", output="old"), version="1", action="edit", output="new", confirmed="live"
    )
    assert live.edit_confirmed(htmx=True) and not live.edit_confirmed(htmx=False)


def test_select_reject_and_result():
    assert form_for(requirement("route_selection"), version="1", action="select", choices=["a", "b"]).data == {
        "choices": ["a", "b"]
    }
    assert form_for(requirement("confirmation"), version="1", action="reject", feedback="  ").data == {"feedback": None}
    assert form_for(requirement("external_execution"), version="1", action="provide_result", result=" 42 ").data == {
        "result": "42"
    }


def test_service_errors_land_on_their_fields():
    form = DecisionForm(requirement(schema=SCHEMA), QueryDict())
    form.add_errors({"n": "This field is required.", "data": "Expected an object.", "__all__": "Bad."})
    assert form.errors["n"] == "This field is required."
    assert form.errors[NON_FIELD] == "data: Expected an object. Bad."
