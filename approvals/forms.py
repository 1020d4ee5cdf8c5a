"""Decision forms: turn POSTed strings into the typed ``action`` + ``data`` of a decision.

Only conversion happens here (text to int, JSON to list, checkbox to bool, size limits). Whether a
decision is acceptable (required fields, allowed values, known routes...) is decided by
``workflows.engine.requirements.clean_decision``, which ``requirement_resolve`` calls; its
``ValidationError`` messages come back to :meth:`DecisionForm.add_errors`, so every message is
shown next to its field whichever layer found it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.engine.errors import DecisionError, ValidationError
from workflows.engine.jsonvalues import MalformedJSON, parse_json, pretty_json, text_problem
from workflows.engine.primitives import FIELD_TYPE_LABELS, UserInputField
from workflows.engine.requirements import ACTIONS, clean_decision
from workflows.models import Requirement
from workflows.store import requirement_to_engine

from .services import content_hash

MAX_FIELD_BYTES = 100 * 1024
NON_FIELD = "__all__"
# Confirms an edit submitted by htmx: that page shows the diff live, as the reviewer types.
LIVE_PREVIEW = "live"

USER_INPUT_KINDS = (Requirement.Kind.USER_INPUT, Requirement.Kind.EXECUTOR_USER_INPUT)


class FieldError(ValueError):
    pass


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
        raise FieldError(problem)
    if len(text.encode()) > MAX_FIELD_BYTES:
        raise FieldError(f"Too long: at most {MAX_FIELD_BYTES // 1024} KB.")
    return text


def _json(raw: str) -> Any:
    """JSON the system accepts (finite numbers, valid text, bounded nesting), else a field error."""
    try:
        return parse_json(raw, "value")
    except MalformedJSON as exc:
        detail = exc.errors["value"].removeprefix("Not valid JSON: ").rstrip(".")
        raise FieldError(f"Enter valid JSON ({detail}).") from None
    except ValidationError as exc:
        raise FieldError(exc.errors["value"]) from None


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
            raise FieldError("Enter a whole number.") from None
    if spec.field_type == "float":
        try:
            number = float(text)
        except ValueError:
            raise FieldError("Enter a number.") from None
        if not math.isfinite(number):
            raise FieldError("Enter a finite number.")
        return number
    if spec.field_type in ("list", "dict"):
        return _json(text)
    return text


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


class DecisionForm:
    """The decision one POST carries for ``requirement``.

    ``action`` is the value of the pressed button (an action of ``ACTIONS[kind]``), ``version``
    the requirement version the page showed, and the rest depends on the action.
    """

    def __init__(self, requirement: Requirement, data: QueryDict | None = None):
        self.requirement = requirement
        self.raw = data if data is not None else QueryDict()
        self.bound = data is not None
        self.errors: dict[str, str] = {}
        self.action: str = self.raw.get("action", "")
        self.version: int | None = None
        self.data: dict = {}

    # -- reading the page's fields -------------------------------------------------------------
    @property
    def schema(self) -> list[UserInputField]:
        return [UserInputField.coerce(f) for f in (self.requirement.payload or {}).get("schema", [])]

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
                error=self.errors.get(spec.name, ""),
                min_value=spec.min_value,
                max_value=spec.max_value,
                max_length=spec.max_length,
                pattern=spec.pattern or "",
            )
            raw = self.raw.get(item.html_name) if self.bound else None
            if widget == "checkbox":
                item.checked = bool(raw) if self.bound else bool(spec.default)
            elif raw is not None:
                item.value = raw
            elif spec.default is not None:
                item.value = spec.default if isinstance(spec.default, str) else pretty_json(spec.default)
            if widget == "select":
                item.options = [("", "Choose…")] + [(str(v), str(v)) for v in spec.allowed_values]
            fields.append(item)
        return fields

    @property
    def output_text(self) -> str:
        """The edit textarea's text: what was submitted, else the output under review."""
        if self.bound and "output" in self.raw:
            return self.raw["output"].replace("\r\n", "\n")
        return pretty_json((self.requirement.payload or {}).get("output"))

    @property
    def args_text(self) -> str:
        """The tool-call arguments textarea: what was submitted, else the agent's arguments."""
        if self.bound and "args" in self.raw:
            return self.raw["args"].replace("\r\n", "\n")
        return pretty_json((self.requirement.payload or {}).get("args") or {})

    @property
    def selected_choices(self) -> list[str]:
        return self.raw.getlist("choices") if self.bound else []

    @property
    def error_links(self) -> list[tuple[str, str, str]]:
        """(field id, label, message) of each field error: the error summary links to the fields."""
        ids = {"feedback": ("field-feedback", "Feedback"), "output": ("field-output", "Output")}
        ids |= {"result": ("field-result", "Result"), "choices": ("choice-1", "Routes")}
        ids |= {"args": ("field-args", "Arguments")}
        ids |= {f.name: (f"field-{f.name}", f.name) for f in self.schema}
        return [(*ids[name], message) for name, message in self.errors.items() if name in ids]

    @property
    def non_field_error(self) -> str:
        return self.errors.get(NON_FIELD, "")

    def value(self, name: str) -> str:
        return self.raw.get(name, "") if self.bound else ""

    # -- parsing -------------------------------------------------------------------------------
    def is_valid(self) -> bool:
        try:
            self.version = int(self.raw.get("version", ""))
        except ValueError:
            self.errors[NON_FIELD] = "This form is missing its version: reload the page and decide again."
        if self.action not in ACTIONS.get(self.requirement.kind, ()):
            # Nothing to convert for an action this kind does not take: clean_decision says why.
            try:
                clean_decision(requirement_to_engine(self.requirement), self.action, {})
            except DecisionError as exc:
                self.add_errors({NON_FIELD: str(exc)})
            return not self.errors
        parse = {
            "reject": self._reject,
            "submit": self._submit,
            "edit": self._edit,
            "select": self._select,
            "provide_result": self._result,
        }.get(self.action)
        if parse is not None:
            parse()
        if self.errors:
            self._more_errors()
        return not self.errors

    def _more_errors(self) -> None:
        """With conversion errors the decision is not sent; still show clean_decision's messages
        for the other fields now, rather than one round of errors after another."""
        try:
            clean_decision(requirement_to_engine(self.requirement), self.action, self.data)
        except ValidationError as exc:
            self.add_errors({name: msg for name, msg in exc.errors.items() if name not in self.errors})
        except DecisionError:
            pass

    def _field(self, name: str, convert) -> Any:
        try:
            return convert()
        except FieldError as exc:
            self.errors[name] = str(exc)
            return None

    def _reject(self):
        feedback = self._field("feedback", lambda: _text(self.raw.get("feedback")).strip())
        self.data = {"feedback": feedback or None}

    def _submit(self):
        values = {}
        for spec in self.schema:
            value = self._field(spec.name, lambda spec=spec: _convert(spec, self.raw.get(f"value-{spec.name}")))
            if value is not None:
                values[spec.name] = value
        self.data = {"values": values}

    def _edit(self):
        if self.requirement.kind == Requirement.Kind.EXECUTOR_CONFIRMATION:
            text = self._field("args", lambda: _text(self.raw.get("args")))
            if text is not None:
                args = self._field("args", lambda: _json(text))
                if "args" not in self.errors:
                    self.data = {"args": args}
            return
        if "output" not in self.raw:
            self.errors["output"] = "This field is required."
            return
        original = (self.requirement.payload or {}).get("output")
        text = self._field("output", lambda: _text(self.raw["output"]))
        if text is None:
            return
        output = text if isinstance(original, str) else self._field("output", lambda: _json(text))
        if "output" not in self.errors:
            self.data = {"output": output}

    def _select(self):
        self.data = {"choices": self.raw.getlist("choices")}

    def _result(self):
        result = self._field("result", lambda: _text(self.raw.get("result")).strip())
        self.data = {"result": result or None}

    # -- edits: shown before saved -------------------------------------------------------------
    @property
    def edited_output(self) -> Any:
        return self.data.get("output")

    @property
    def preview_token(self) -> str:
        """Stands for "the diff of exactly this output was shown" on the preview page."""
        return content_hash(self.edited_output)

    def edit_confirmed(self, *, htmx: bool) -> bool:
        confirmed = self.raw.get("confirmed", "")
        return (htmx and confirmed == LIVE_PREVIEW) or confirmed == self.preview_token

    # -- errors from the service -----------------------------------------------------------------
    def add_errors(self, errors: dict[str, str]) -> None:
        """Attach a ``ValidationError``'s messages: to their field when the page shows it."""
        shown = {"feedback", "output", "choices", "result", "args"} | {f.name for f in self.schema}
        for name, message in errors.items():
            key = name if name in shown else NON_FIELD
            if key == NON_FIELD and name != NON_FIELD:
                message = f"{name}: {message}"
            self.errors[key] = f"{self.errors[key]} {message}" if key in self.errors else message
