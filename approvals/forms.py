"""The decision form: turn POSTed strings into the typed ``action`` + ``data`` of a decision.

A Django form whose fields are those of the pressed action, built from the requirement: the
user-input schema's fields, the edited output, the routes, the tool's arguments or result, the
feedback of a reject. The fields convert (text to int, JSON to list, checkbox to bool, size
limits); whether the decision is acceptable (required fields, allowed values, known routes...) is
decided by ``workflows.engine.requirements.clean_decision``, which :meth:`DecisionForm.clean`
calls. Its ``ValidationError`` messages land on their fields, here and when the service refuses a
decision (:meth:`DecisionForm.add_decision_errors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django import forms

from workflows import selectors
from workflows.engine.errors import DecisionError, ValidationError
from workflows.engine.jsonvalues import MalformedJSON, parse_json, pretty_json, text_problem
from workflows.engine.primitives import FIELD_TYPE_LABELS, UserInputField
from workflows.engine.requirements import ACTIONS, clean_decision
from workflows.models import Requirement

from .services import content_hash

MAX_FIELD_BYTES = 100 * 1024
NON_FIELD = forms.forms.NON_FIELD_ERRORS
MISSING_VERSION = "This form is missing its version: reload the page and decide again."
# Confirms an edit submitted by htmx: that page shows the diff live, as the reviewer types.
LIVE_PREVIEW = "live"
VALUE_PREFIX = "value-"  # a user-input field's name on the page: value-<schema name>
# The fields the error summary links to: (element id, label).
SUMMARY_LINKS = {
    "feedback": ("field-feedback", "Feedback"),
    "output": ("field-output", "Output"),
    "result": ("field-result", "Result"),
    "choices": ("choice-1", "Routes"),
    "args": ("field-args", "Arguments"),
}


@dataclass
class InputField:
    """One schema field of a user-input form, ready for the template."""

    name: str  # the schema name: also the label text
    field_type: str
    widget: str  # text, number, checkbox, select, textarea
    description: str = ""
    required: bool = True
    value: str = ""
    checked: bool = False
    step: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    min_value: int | float | None = None
    max_value: int | float | None = None
    max_length: int | None = None
    pattern: str = ""

    @property
    def type_label(self) -> str:
        """The type in words ("whole number", not ``int``)."""
        label = FIELD_TYPE_LABELS.get(self.field_type, self.field_type)
        return f"{label} as JSON" if self.field_type in ("list", "dict") else label

    @property
    def limits_hint(self) -> str:
        """The field's limits in words, as the hint under it says them."""
        parts = []
        if self.min_value is not None and self.max_value is not None:
            parts.append(f"from {self.min_value} to {self.max_value}")
        elif self.min_value is not None:
            parts.append(f"at least {self.min_value}")
        elif self.max_value is not None:
            parts.append(f"at most {self.max_value}")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} {'characters' if self.field_type == 'str' else 'items'}")
        if self.pattern:
            parts.append("in the expected format")
        return ", ".join(parts)

    @property
    def html_name(self) -> str:
        return f"value-{self.name}"

    @property
    def html_id(self) -> str:
        return f"field-{self.name}"

    @property
    def placeholder(self) -> str:
        return {"list": '["a", "b"]', "dict": '{"key": "value"}'}.get(self.field_type, "")


def _text(raw: str | None) -> str:
    """A submitted text: browsers send CRLF line ends; size-limited, storable (no NUL)."""
    text = (raw or "").replace("\r\n", "\n")
    problem = text_problem(text)
    if problem:
        raise forms.ValidationError(problem)
    if len(text.encode()) > MAX_FIELD_BYTES:
        raise forms.ValidationError(f"Too long: at most {MAX_FIELD_BYTES // 1024} KB.")
    return text


def _json(raw: str) -> Any:
    """JSON the system accepts (finite numbers, valid text, bounded nesting), else a field error."""
    try:
        return parse_json(raw, "value")
    except MalformedJSON as exc:
        detail = exc.errors["value"].removeprefix("Not valid JSON: ").rstrip(".")
        raise forms.ValidationError(f"Enter valid JSON ({detail}).") from None
    except ValidationError as exc:
        raise forms.ValidationError(exc.errors["value"]) from None


def _convert(spec: UserInputField, raw: str | None) -> Any:
    """One field's value from its submitted text; None when left empty."""
    if spec.field_type == "bool" and not spec.allowed_values:
        return raw is not None and raw not in ("", "0", "false", "off")
    text = _text(raw).strip()
    if text == "":
        return None
    if spec.allowed_values:
        # Options carry str(value); map back so an int or bool choice keeps its type.
        by_text = {str(value): value for value in spec.allowed_values}
        return by_text.get(text, text)
    if spec.field_type == "int":
        try:
            return int(text)
        except ValueError:
            raise forms.ValidationError("Enter a whole number.") from None
    if spec.field_type == "float":
        try:
            number = float(text)
        except ValueError:
            raise forms.ValidationError("Enter a number.") from None
        if not math.isfinite(number):
            raise forms.ValidationError("Enter a finite number.")
        return number
    if spec.field_type in ("list", "dict"):
        return _json(text)
    return text


# -- fields: conversion only (none is "required": clean_decision says what is) ----------------------
class TextField(forms.Field):
    """Text as it is stored (see ``_text``), stripped if ``strip``."""

    def __init__(self, *, strip: bool = False):
        super().__init__(required=False)
        self.strip = strip

    def to_python(self, value):
        text = _text(value)
        return text.strip() if self.strip else text


class JSONTextField(forms.Field):
    """JSON typed in a textarea."""

    def __init__(self):
        super().__init__(required=False)

    def to_python(self, value):
        return _json(_text(value))


class OutputField(forms.Field):
    """An edited output: text when the output under review is text, else JSON. None when it was
    not submitted (``clean_decision`` then says it is required)."""

    def __init__(self, *, as_text: bool):
        super().__init__(required=False)
        self.as_text = as_text

    def to_python(self, value):
        if value is None:
            return None
        text = _text(value)
        return text if self.as_text else _json(text)


class RoutesField(forms.Field):
    """The chosen routes: every ``choices`` value posted (checkboxes, or one radio button)."""

    widget = forms.MultipleHiddenInput

    def __init__(self):
        super().__init__(required=False)


class SchemaField(forms.Field):
    """One field of a user-input schema."""

    def __init__(self, spec: UserInputField):
        super().__init__(required=False, label=spec.name)
        self.spec = spec

    def to_python(self, value):
        return _convert(self.spec, value)


def _widget(spec: UserInputField) -> tuple[str, str]:
    if spec.allowed_values:
        return "select", ""
    return {
        "int": ("number", "1"),
        "float": ("number", "any"),
        "bool": ("checkbox", ""),
        "list": ("textarea", ""),
        "dict": ("textarea", ""),
    }.get(spec.field_type, ("text", ""))


class DecisionForm(forms.Form):
    """The decision one POST carries for ``requirement``.

    ``action`` is the value of the pressed button (an action of ``ACTIONS[kind]``), ``version``
    the requirement version the page showed; the other fields are those of the action.
    After ``is_valid()``: ``cleaned_data["version"]`` and :attr:`decision_data`.
    """

    version = forms.IntegerField(error_messages={"required": MISSING_VERSION, "invalid": MISSING_VERSION})

    def __init__(self, requirement: Requirement, data=None):
        super().__init__(data)
        self.requirement = requirement
        self.action: str = self.data.get("action", "") if self.is_bound else ""
        self.fields |= self._action_fields()

    def _action_fields(self) -> dict[str, forms.Field]:
        if self.action not in ACTIONS.get(self.requirement.kind, ()):
            return {}  # nothing to convert: clean_decision says why the action is refused
        if self.action == "reject":
            return {"feedback": TextField(strip=True)}
        if self.action == "submit":
            return {VALUE_PREFIX + spec.name: SchemaField(spec) for spec in self.schema}
        if self.action == "edit" and self.requirement.kind == Requirement.Kind.EXECUTOR_CONFIRMATION:
            return {"args": JSONTextField()}
        if self.action == "edit":
            return {"output": OutputField(as_text=isinstance(self.payload.get("output"), str))}
        if self.action == "select":
            return {"choices": RoutesField()}
        if self.action == "provide_result":
            return {"result": TextField(strip=True)}
        return {}

    @property
    def payload(self) -> dict:
        return self.requirement.payload or {}

    @property
    def schema(self) -> list[UserInputField]:
        return [UserInputField.coerce(f) for f in self.payload.get("schema", [])]

    # -- validation ------------------------------------------------------------------------------
    @property
    def decision_data(self) -> dict:
        """The decision's data from the fields that converted (a field in error is left out)."""
        cleaned = self.cleaned_data
        if self.action == "reject":
            return {"feedback": cleaned.get("feedback") or None}
        if self.action == "submit":
            values = {spec.name: cleaned.get(VALUE_PREFIX + spec.name) for spec in self.schema}
            return {"values": {name: value for name, value in values.items() if value is not None}}
        if "args" in self.fields:
            return {"args": cleaned["args"]} if "args" in cleaned else {}
        if "output" in self.fields:
            return {"output": cleaned["output"]} if "output" in self.data and "output" in cleaned else {}
        if "choices" in self.fields:
            return {"choices": cleaned.get("choices") or []}
        if "result" in self.fields:
            return {"result": cleaned.get("result") or None}
        return {}

    def clean(self):
        try:
            clean_decision(selectors.engine_requirement(self.requirement), self.action, self.decision_data)
        except ValidationError as exc:
            # A field that did not convert already says why; the others get clean_decision's
            # messages now, rather than one round of errors after another.
            self.add_decision_errors(
                {name: message for name, message in exc.errors.items() if self._field_of(name) not in self.errors}
            )
        except DecisionError as exc:
            self.add_error(None, str(exc))
        return self.cleaned_data

    def _field_of(self, name: str) -> str | None:
        """The form field a ``clean_decision`` message is about, or None (a message for the form)."""
        for candidate in (VALUE_PREFIX + name, name) if self.action == "submit" else (name,):
            if candidate in self.fields and candidate != "version":
                return candidate
        return None

    def add_decision_errors(self, errors: dict[str, str]) -> None:
        """Attach a ``ValidationError``'s messages: to their field when the page shows it."""
        for name, message in errors.items():
            target = self._field_of(name)
            if target is None and name != NON_FIELD:
                message = f"{name}: {message}"
            self.add_error(target, message)

    # -- reading the page's fields ---------------------------------------------------------------
    def _messages(self, name: str) -> str:
        return " ".join(self.errors.get(name, []))

    @property
    def input_fields(self) -> list[InputField]:
        fields = []
        for spec in self.schema:
            widget, step = _widget(spec)
            item = InputField(
                name=spec.name,
                field_type=spec.field_type,
                widget=widget,
                step=step,
                description=spec.description or "",
                required=spec.required,
                error=self._messages(VALUE_PREFIX + spec.name),
                min_value=spec.min_value,
                max_value=spec.max_value,
                max_length=spec.max_length,
                pattern=spec.pattern or "",
            )
            raw = self.data.get(item.html_name) if self.is_bound else None
            if widget == "checkbox":
                item.checked = bool(raw) if self.is_bound else bool(spec.default)
            elif raw is not None:
                item.value = raw
            elif spec.default is not None:
                item.value = pretty_json(spec.default)
            if widget == "select":
                item.options = [("", "Choose…")] + [(str(v), str(v)) for v in spec.allowed_values]
            fields.append(item)
        return fields

    @property
    def output_text(self) -> str:
        """The edit textarea's text: what was submitted, else the output under review."""
        if self.is_bound and "output" in self.data:
            return self.data["output"].replace("\r\n", "\n")
        return pretty_json(self.payload.get("output"))

    @property
    def args_text(self) -> str:
        """The tool-call arguments textarea: what was submitted, else the agent's arguments."""
        if self.is_bound and "args" in self.data:
            return self.data["args"].replace("\r\n", "\n")
        return pretty_json(self.payload.get("args") or {})

    @property
    def selected_choices(self) -> list[str]:
        return self.data.getlist("choices") if self.is_bound else []

    @property
    def error_links(self) -> list[tuple[str, str, str]]:
        """(field id, label, message) of each field error: the error summary links to the fields."""
        links = []
        for name in self.errors:
            if name.startswith(VALUE_PREFIX) and name in self.fields:
                label = name.removeprefix(VALUE_PREFIX)
                links.append((f"field-{label}", label, self._messages(name)))
            elif name in SUMMARY_LINKS:
                links.append((*SUMMARY_LINKS[name], self._messages(name)))
        return links

    @property
    def non_field_error(self) -> str:
        return " ".join([*self.errors.get("version", []), *self.non_field_errors()])

    # -- edits: shown before saved ---------------------------------------------------------------
    @property
    def edited_output(self) -> Any:
        return self.cleaned_data.get("output")

    @property
    def preview_token(self) -> str:
        """Stands for "the diff of exactly this output was shown" on the preview page."""
        return content_hash(self.edited_output)

    def edit_confirmed(self, *, htmx: bool) -> bool:
        confirmed = self.data.get("confirmed", "")
        return (htmx and confirmed == LIVE_PREVIEW) or confirmed == self.preview_token
