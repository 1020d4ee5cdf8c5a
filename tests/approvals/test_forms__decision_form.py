"""DecisionForm: strings in, typed decision data out; its clean() is clean_decision."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from approvals.forms import MAX_FIELD_BYTES, DecisionForm
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
    assert form.cleaned_data["version"] == 3
    assert form.decision_data == {
        "values": {"n": 7, "f": 2.5, "b": True, "s": "hi", "l": [1], "d": {"k": None}, "level": 2}
    }


def test_empty_fields_are_left_out_and_clean_decision_judges_them():
    form = form_for(requirement(schema=SCHEMA), version="3", action="submit")
    assert form.decision_data == {"values": {"b": False}}
    assert set(form.errors) == {f"value-{spec['name']}" for spec in SCHEMA} - {"value-b"}
    assert form.error_links[0] == ("field-n", "n", " ".join(form.errors["value-n"]))


def test_clean_decision_messages_join_conversion_errors_in_one_round():
    form = form_for(requirement(schema=SCHEMA[:2]), version="3", action="submit", **{"value-n": "x"})
    assert form.errors["value-n"] == ["Enter a whole number."]
    assert "value-f" in form.errors  # required: clean_decision's message, in the same round


def test_an_action_the_kind_does_not_take_is_a_form_error():
    form = form_for(requirement("confirmation"), version="1", action="submit")
    assert "accepts confirm, reject" in form.non_field_error
    assert not form.error_links


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
    assert message in " ".join(form.errors[f"value-{name}"])


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
    for form in (form_for(requirement("confirmation"), action="confirm"), form_for(requirement(), version="x")):
        assert form.non_field_error.startswith("This form is missing its version")


def test_edit_keeps_text_for_text_outputs_and_parses_json_otherwise():
    text = form_for(requirement("output_review", output="old"), version="1", action="edit", output="a\r\nb")
    assert text.decision_data == {"output": "a\nb"}
    structured = form_for(requirement("output_review", output={"a": 1}), version="1", action="edit", output='{"a": 2}')
    assert structured.decision_data == {"output": {"a": 2}}
    bad = form_for(requirement("output_review", output={"a": 1}), version="1", action="edit", output="{")
    assert bad.errors["output"][0].startswith("Enter valid JSON")
    for original in ("x", {"a": 1}):
        missing = form_for(requirement("output_review", output=original), version="1", action="edit")
        assert missing.errors["output"] == ["This field is required."]


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
    routes = requirement("route_selection", choices=["a", "b"], multiple=True)
    assert form_for(routes, version="1", action="select", choices=["a", "b"]).decision_data == {"choices": ["a", "b"]}
    reject = form_for(requirement("confirmation"), version="1", action="reject", feedback="  ")
    assert reject.decision_data == {"feedback": None}
    result = form_for(requirement("external_execution"), version="1", action="provide_result", result=" 42 ")
    assert result.decision_data == {"result": "42"}
    unknown = form_for(routes, version="1", action="select", choices=["c"])
    assert unknown.errors["choices"] == ["Unknown route(s): c. Choose from: a, b."]


def test_service_errors_land_on_their_fields():
    form = form_for(requirement(schema=SCHEMA[:1]), version="3", action="submit", **{"value-n": "1"})
    assert form.is_valid()
    form.add_decision_errors({"n": "Taken.", "data": "Expected an object.", "__all__": "Bad."})
    assert form.errors["value-n"] == ["Taken."]
    assert form.non_field_error == "data: Expected an object. Bad."
