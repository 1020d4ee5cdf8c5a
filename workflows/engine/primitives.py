"""Workflow building blocks: Step, Steps, Loop, Router, Condition, Parallel and their HITL options.

Primitives are immutable. ``Workflow`` normalises a definition (wraps bare functions, fills in
default names) into new objects and never mutates the ones it was given.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .errors import DefinitionError


class OnReject(enum.StrEnum):
    skip = "skip"
    cancel = "cancel"
    retry = "retry"
    else_branch = "else"


class OnTimeout(enum.StrEnum):
    """What a requirement that times out stands for. ``reject``: a reject of that kind, so
    ``on_reject`` applies (an error pause, which cannot be rejected, is skipped)."""

    approve = "approve"
    reject = "reject"
    skip = "skip"
    cancel = "cancel"


class OnError(enum.StrEnum):
    fail = "fail"
    skip = "skip"
    pause = "pause"


class RunStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"


FIELD_TYPES = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}
# How a field's type reads to people (form hints and messages), not Python's type names.
FIELD_TYPE_LABELS = {
    "str": "text",
    "int": "whole number",
    "float": "number",
    "bool": "yes/no",
    "list": "list",
    "dict": "set of named values",
}
_WRONG_TYPE = {
    "str": "Enter text.",
    "int": "Enter a whole number.",
    "float": "Enter a number.",
    "bool": "Answer yes or no.",
    "list": "Enter a list.",
    "dict": "Enter a set of named values (a JSON object).",
}
_MISSING = object()


@dataclass(frozen=True)
class UserInputField:
    """One value a person supplies. ``field_type`` is one of str, int, float, bool, list, dict.

    Limits, all optional: ``min_value``/``max_value`` bound an int or float (inclusive);
    ``max_length`` bounds the length of a str (characters) or list (items); ``pattern`` is a
    regular expression a str must match in full.
    """

    name: str
    field_type: str = "str"
    description: str | None = None
    required: bool = True
    allowed_values: tuple | None = None
    default: Any = None
    min_value: int | float | None = None
    max_value: int | float | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __post_init__(self):
        ftype = self.field_type
        if isinstance(ftype, type):
            ftype = ftype.__name__
        if ftype not in FIELD_TYPES:
            raise DefinitionError(
                f"UserInputField '{self.name}': field_type must be one of {', '.join(FIELD_TYPES)}, not {ftype!r}"
            )
        object.__setattr__(self, "field_type", ftype)
        if self.allowed_values is not None:
            object.__setattr__(self, "allowed_values", tuple(self.allowed_values))
        self._check_limits()

    def _check_limits(self) -> None:
        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        where = f"UserInputField '{self.name}'"
        for name in ("min_value", "max_value"):
            value = getattr(self, name)
            if value is not None and (self.field_type not in ("int", "float") or not number(value)):
                raise DefinitionError(f"{where}: {name} must be a finite number, on an int or float field")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise DefinitionError(f"{where}: min_value is above max_value")
        if self.max_length is not None and (
            self.field_type not in ("str", "list")
            or isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or self.max_length < 1
        ):
            raise DefinitionError(f"{where}: max_length must be a positive integer, on a str or list field")
        if self.pattern is not None:
            if self.field_type != "str" or not isinstance(self.pattern, str):
                raise DefinitionError(f"{where}: pattern must be a regular expression (text), on a str field")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise DefinitionError(f"{where}: pattern is not a valid regular expression ({exc})") from None

    @classmethod
    def coerce(cls, value: UserInputField | dict) -> UserInputField:
        if isinstance(value, UserInputField):
            return value
        if isinstance(value, dict):
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in value.items() if k in known})
        raise DefinitionError(f"user_input_schema entries must be UserInputField or dict: {value!r}")

    def check(self, value: Any) -> str | None:
        """Return an error message for ``value``, or None when it is valid."""
        if value is None or value == "":
            return "This field is required." if self.required else None
        expected = FIELD_TYPES[self.field_type]
        ok = isinstance(value, expected)
        if self.field_type in ("int", "float") and isinstance(value, bool):
            ok = False
        if self.field_type == "float" and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            return _WRONG_TYPE[self.field_type]
        if self.allowed_values is not None and value not in self.allowed_values:
            allowed = ", ".join(str(v) for v in self.allowed_values)
            return f"Must be one of: {allowed}."
        return self._limit_error(value)

    def _limit_error(self, value: Any) -> str | None:
        if self.min_value is not None and value < self.min_value:
            return f"Must be at least {self.min_value}."
        if self.max_value is not None and value > self.max_value:
            return f"Must be at most {self.max_value}."
        if self.max_length is not None and len(value) > self.max_length:
            unit = "characters" if self.field_type == "str" else "items"
            return f"At most {self.max_length} {unit}."
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return "Does not have the expected format."
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "field_type": self.field_type,
            "description": self.description,
            "required": self.required,
            "allowed_values": list(self.allowed_values) if self.allowed_values is not None else None,
            "default": self.default,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "max_length": self.max_length,
            "pattern": self.pattern,
        }


def validate_user_input(schema: Sequence[UserInputField], values: dict, *, partial: bool = False) -> dict:
    """Validate ``values`` against ``schema``; return the cleaned values.

    Unknown names are refused. With ``partial`` missing required fields are allowed (a person may
    fill a form in several calls). Raises ``ValidationError`` with one message per field.
    """
    from .errors import ValidationError

    if not isinstance(values, dict):
        raise ValidationError({"__all__": "Expected an object of field values."})
    by_name = {f.name: f for f in schema}
    errors: dict[str, str] = {}
    for name in values:
        if name not in by_name:
            errors[name] = "Unknown field."
    cleaned = {}
    for f in schema:
        value = values.get(f.name, _MISSING)
        if value is _MISSING:
            if partial:
                continue
            value = None
        msg = f.check(value)
        if msg:
            errors[f.name] = msg
        elif value is not None and value != "":
            cleaned[f.name] = float(value) if f.field_type == "float" else value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _seconds(value, option: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DefinitionError(f"HumanReview {option} must be a positive number of seconds: {value!r}")
    return float(value)


def _escalation(steps) -> tuple[tuple[float, str], ...]:
    """``[(after, "group:legal" | "user:bob"), ...]`` checked, in the order they fire."""
    out = []
    for item in steps or ():
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DefinitionError(
                f"HumanReview escalate items are (after seconds, 'group:<name>' or 'user:<name>'): {item!r}"
            )
        after, target = item
        kind, _, who = target.partition(":") if isinstance(target, str) else ("", "", "")
        if kind not in ("group", "user") or not who.strip():
            raise DefinitionError(f"HumanReview escalate target must be 'group:<name>' or 'user:<name>': {target!r}")
        out.append((_seconds(after, "escalate delay"), f"{kind}:{who.strip()}"))
    return tuple(sorted(out, key=lambda pair: pair[0]))


PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class HumanReview:
    """Where and how a person takes part in a step. Which options apply depends on the primitive."""

    requires_confirmation: bool = False
    confirmation_message: str | None = None
    requires_user_input: bool = False
    user_input_message: str | None = None
    user_input_schema: tuple[UserInputField, ...] | None = None
    allow_multiple_selections: bool = False
    requires_output_review: bool | Callable[[Any], bool] = False
    output_review_message: str | None = None
    requires_iteration_review: bool = False
    iteration_review_message: str | None = None
    on_reject: OnReject | None = None
    on_error: OnError | None = None
    max_retries: int = 3
    timeout: float | None = None
    on_timeout: OnTimeout = OnTimeout.cancel
    assignees: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # Reminders and escalation (the notifications app acts on them): remind the people who may
    # decide ``remind_before`` seconds before the deadline (``timeout``) and every ``remind_every``
    # seconds while it waits; ``escalate``: ``(after seconds, "group:<name>" or "user:<name>")``
    # pairs, each adding assignees once when the requirement has waited that long.
    remind_before: float | None = None
    remind_every: float | None = None
    escalate: tuple[tuple[float, str], ...] = ()
    # Teams: who may not decide, how many must approve, how urgent, when it is due.
    separation_of_duties: bool = False
    approvals_required: int = 1
    approvals_per_group: dict | None = None
    priority: str = "normal"
    due_in: float | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        if self.user_input_schema is not None:
            set_(self, "user_input_schema", tuple(UserInputField.coerce(f) for f in self.user_input_schema))
        for name, enum_cls in (("on_reject", OnReject), ("on_error", OnError), ("on_timeout", OnTimeout)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, enum_cls):
                try:
                    set_(self, name, enum_cls(value))
                except ValueError:
                    allowed = ", ".join(e.value for e in enum_cls)
                    raise DefinitionError(f"HumanReview {name} must be one of {allowed}: {value!r}") from None
        set_(self, "timeout", _seconds(self.timeout))
        set_(self, "remind_before", _seconds(self.remind_before, "remind_before"))
        set_(self, "remind_every", _seconds(self.remind_every, "remind_every"))
        set_(self, "escalate", _escalation(self.escalate))
        if self.remind_before is not None and self.timeout is None:
            raise DefinitionError("HumanReview remind_before needs a timeout (the deadline to remind before)")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise DefinitionError(f"HumanReview max_retries must be an int >= 0: {self.max_retries!r}")
        set_(self, "assignees", tuple(self.assignees or ()))
        set_(self, "groups", tuple(self.groups or ()))
        self._check_team_options()
        if self.requires_output_review and self.requires_iteration_review:
            raise DefinitionError(
                "HumanReview: requires_output_review and requires_iteration_review exclude each other"
            )
        if self.user_input_schema and not self.requires_user_input:
            raise DefinitionError("HumanReview: user_input_schema is set but requires_user_input is False")

    def _check_team_options(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.separation_of_duties, bool):
            raise DefinitionError(
                f"HumanReview separation_of_duties must be True or False: {self.separation_of_duties!r}"
            )
        n = self.approvals_required
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 20:
            raise DefinitionError(f"HumanReview approvals_required must be an int from 1 to 20: {n!r}")
        per_group = self.approvals_per_group or {}
        if not isinstance(per_group, dict) or not all(
            isinstance(g, str) and g and isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 20
            for g, k in per_group.items()
        ):
            raise DefinitionError(
                'HumanReview approvals_per_group must map group names to ints from 1 to 20, e.g. {"legal": 1}: '
                f"{self.approvals_per_group!r}"
            )
        set_(self, "approvals_per_group", dict(per_group) or None)
        if self.priority not in PRIORITIES:
            raise DefinitionError(f"HumanReview priority must be one of {', '.join(PRIORITIES)}: {self.priority!r}")
        if self.due_in is not None:
            try:
                set_(self, "due_in", _seconds(self.due_in))
            except DefinitionError:
                raise DefinitionError(
                    f"HumanReview due_in must be a positive number of seconds: {self.due_in!r}"
                ) from None

    @property
    def team_options(self) -> dict:
        """What the requirement carries for the people deciding it (non-defaults only)."""
        options = {}
        if self.separation_of_duties:
            options["separation_of_duties"] = True
        if self.approvals_required != 1:
            options["approvals_required"] = self.approvals_required
        if self.approvals_per_group:
            options["approvals_per_group"] = dict(self.approvals_per_group)
        if self.priority != "normal":
            options["priority"] = self.priority
        return options

    @property
    def pre_gate(self) -> bool:
        return bool(self.requires_confirmation or self.requires_user_input)

    def fingerprint(self) -> dict:
        data = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _TEAM_FIELDS and value == f.default:
                continue  # definitions without team options keep the fingerprints they had
            if callable(value) and not isinstance(value, (bool, enum.Enum)):
                value = "<predicate>"
            elif f.name == "user_input_schema" and value is not None:
                value = [x.to_dict() for x in value]
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            data[f.name] = value
        for name in ("remind_before", "remind_every", "escalate"):  # unset: fingerprints as before them
            if not data[name]:
                del data[name]
        return data


_TEAM_FIELDS = ("separation_of_duties", "approvals_required", "approvals_per_group", "priority", "due_in")


@dataclass
class StepOutput:
    """What a step produced. Containers put their inner outputs in ``steps``."""

    step_name: str | None = None
    content: Any = None
    success: bool = True
    error: str | None = None
    stop: bool = False
    steps: list[StepOutput] | None = None
    metadata: dict | None = None

    def to_dict(self) -> dict:
        data = {"step_name": self.step_name, "content": self.content, "success": self.success}
        if self.error is not None:
            data["error"] = self.error
        if self.stop:
            data["stop"] = True
        if self.steps is not None:
            data["steps"] = [s.to_dict() for s in self.steps]
        if self.metadata:
            data["metadata"] = self.metadata
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StepOutput:
        steps = data.get("steps")
        return cls(
            step_name=data.get("step_name"),
            content=data.get("content"),
            success=data.get("success", True),
            error=data.get("error"),
            stop=data.get("stop", False),
            steps=[cls.from_dict(s) for s in steps] if steps is not None else None,
            metadata=data.get("metadata"),
        )


@dataclass
class StepInput:
    """What a step function receives.

    ``additional_data`` holds the run's additional data plus, where they apply, ``user_input``,
    ``rejection_feedback`` and ``previous_output`` for this step. ``session_state`` is shared by
    the run's steps and persisted with the run.
    """

    input: Any = None
    previous_step_content: Any = None
    previous_step_outputs: dict[str, StepOutput] = field(default_factory=dict)
    additional_data: dict = field(default_factory=dict)
    session_state: dict = field(default_factory=dict)
    step_name: str | None = None
    iteration: int | None = None

    @property
    def user_input(self) -> dict:
        return self.additional_data.get("user_input") or {}

    @property
    def rejection_feedback(self) -> str | None:
        return self.additional_data.get("rejection_feedback")

    def get_step_output(self, name: str) -> StepOutput | None:
        return self.previous_step_outputs.get(name)

    def get_step_content(self, name: str) -> Any:
        out = self.previous_step_outputs.get(name)
        return out.content if out else None


# ---------------------------------------------------------------------------------------------
# The primitives


def _normalise_review(review: HumanReview | None) -> HumanReview | None:
    if review is None or isinstance(review, HumanReview):
        return review
    if isinstance(review, dict):
        return HumanReview(**review)
    raise DefinitionError(f"human_review must be a HumanReview, not {type(review).__name__}")


@dataclass(frozen=True)
class Step:
    """One unit of work: a function (``executor``) or an agent (``agent``)."""

    name: str | None = None
    executor: Callable | None = None
    agent: Any = None
    human_review: HumanReview | None = None
    max_retries: int = 0
    description: str | None = None

    kind = "Step"

    def __post_init__(self):
        set_ = object.__setattr__
        if (self.executor is None) == (self.agent is None):
            raise DefinitionError(f"Step '{self.name or '?'}': give exactly one of executor= or agent=")
        if self.executor is not None and not callable(self.executor):
            raise DefinitionError(f"Step '{self.name or '?'}': executor must be callable")
        if self.agent is not None:
            for attr in ("name", "tools", "next_action"):
                if not hasattr(self.agent, attr):
                    raise DefinitionError(f"Step '{self.name or '?'}': agent has no '{attr}'")
        if self.name is None:
            fn = self.executor
            default = getattr(fn, "_hitl_name", None) or getattr(fn, "__name__", None)
            if self.agent is not None:
                default = self.agent.name
            if default and default != "<lambda>":
                set_(self, "name", default)
        review = _normalise_review(self.human_review)
        if review is None and self.executor is not None and hasattr(self.executor, "_hitl_review"):
            review = self.executor._hitl_review
        set_(self, "human_review", review)
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise DefinitionError(f"Step '{self.name}': max_retries must be an int >= 0")


def _as_node(item, *, where: str):
    if isinstance(item, (Step, Steps, Loop, Router, Condition, Parallel)):
        return item
    if isinstance(item, (list, tuple)):
        return Steps(steps=list(item))
    if callable(item):
        return Step(executor=item)
    raise DefinitionError(f"{where}: {item!r} is not a step, a function or a list of steps")


def _as_nodes(items, *, where: str) -> tuple:
    if items is None:
        return ()
    if not isinstance(items, (list, tuple)):
        items = [items]
    return tuple(_as_node(i, where=where) for i in items)


@dataclass(frozen=True)
class Steps:
    """A named sequence of steps."""

    name: str | None = None
    steps: tuple = ()
    human_review: HumanReview | None = None
    description: str | None = None

    kind = "Steps"

    def __post_init__(self):
        object.__setattr__(self, "steps", _as_nodes(self.steps, where=f"Steps '{self.name}'"))
        object.__setattr__(self, "human_review", _normalise_review(self.human_review))


@dataclass(frozen=True)
class Loop:
    """Runs ``steps`` up to ``max_iterations`` times, until ``end_condition(outputs)`` is true."""

    name: str | None = None
    steps: tuple = ()
    max_iterations: int = 3
    end_condition: Callable[[list[StepOutput]], bool] | None = None
    forward_iteration_output: bool = False
    human_review: HumanReview | None = None
    description: str | None = None

    kind = "Loop"

    def __post_init__(self):
        object.__setattr__(self, "steps", _as_nodes(self.steps, where=f"Loop '{self.name}'"))
        object.__setattr__(self, "human_review", _normalise_review(self.human_review))
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise DefinitionError(f"Loop '{self.name}': max_iterations must be an int >= 1")


@dataclass(frozen=True)
class Router:
    """Runs the chosen ``choices``: picked by ``selector(step_input)`` or by a person."""

    name: str | None = None
    choices: tuple = ()
    selector: Callable | None = None
    human_review: HumanReview | None = None
    description: str | None = None

    kind = "Router"

    def __post_init__(self):
        choices = []
        for n, choice in enumerate(self.choices or (), start=1):
            if isinstance(choice, (list, tuple)):
                choice = Steps(name=f"steps_group_{n}", steps=list(choice))
            choices.append(_as_node(choice, where=f"Router '{self.name}'"))
        object.__setattr__(self, "choices", tuple(choices))
        object.__setattr__(self, "human_review", _normalise_review(self.human_review))


@dataclass(frozen=True)
class Condition:
    """Runs ``steps`` when ``evaluator`` (a bool or ``f(step_input) -> bool``) holds, else ``else_steps``."""

    name: str | None = None
    evaluator: bool | Callable = True
    steps: tuple = ()
    else_steps: tuple = ()
    human_review: HumanReview | None = None
    description: str | None = None

    kind = "Condition"

    def __post_init__(self):
        object.__setattr__(self, "steps", _as_nodes(self.steps, where=f"Condition '{self.name}'"))
        object.__setattr__(self, "else_steps", _as_nodes(self.else_steps, where=f"Condition '{self.name}'"))
        object.__setattr__(self, "human_review", _normalise_review(self.human_review))


class Parallel:
    """Runs its branches at the same time, each in a thread of its own (at most ``max_concurrency``
    at once; by default the engine's or the store's cap); each may pause on its own. Outputs come
    in definition order. ``Parallel(a, b, name="x")``."""

    kind = "Parallel"
    __slots__ = ("steps", "name", "human_review", "description", "max_concurrency")

    def __init__(
        self,
        *steps,
        name: str | None = None,
        human_review: HumanReview | None = None,
        description: str | None = None,
        max_concurrency: int | None = None,
    ):
        if len(steps) == 1 and isinstance(steps[0], (list, tuple)):
            steps = tuple(steps[0])
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise DefinitionError(f"Parallel '{name}': max_concurrency must be an int >= 1: {max_concurrency!r}")
        object.__setattr__(self, "steps", _as_nodes(list(steps), where=f"Parallel '{name}'"))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "human_review", _normalise_review(human_review))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "max_concurrency", max_concurrency)

    def __setattr__(self, key, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field '{key}'")

    def __repr__(self):
        return f"Parallel({', '.join(repr(s) for s in self.steps)}, name={self.name!r})"

    def _replace(self, **changes) -> Parallel:
        data = {
            "name": self.name,
            "human_review": self.human_review,
            "description": self.description,
            "max_concurrency": self.max_concurrency,
        }
        steps = changes.pop("steps", self.steps)
        data.update(changes)
        return Parallel(*steps, **data)


Node = Step | Steps | Loop | Router | Condition | Parallel


def replace(node, **changes):
    if isinstance(node, Parallel):
        return node._replace(**changes)
    return dataclasses.replace(node, **changes)


# Which HumanReview options each primitive supports; anything else raises (nothing is ignored).
_SUPPORT = {
    "Step": {"requires_confirmation", "requires_user_input", "requires_output_review"},
    "Steps": {"requires_confirmation"},
    "Loop": {"requires_confirmation", "requires_iteration_review"},
    "Router": {"requires_confirmation", "requires_user_input", "requires_output_review", "allow_multiple_selections"},
    "Condition": {"requires_confirmation"},
    "Parallel": {"requires_confirmation"},
}


def validate_review(node, name: str) -> None:
    """Refuse HITL options the primitive does not support, naming the step and the option."""
    review = node.human_review
    if review is None:
        return
    kind = node.kind
    supported = _SUPPORT[kind]
    for option in (
        "requires_confirmation",
        "requires_user_input",
        "requires_output_review",
        "requires_iteration_review",
        "allow_multiple_selections",
    ):
        if getattr(review, option) and option not in supported:
            raise DefinitionError(f"{kind} '{name}': {option} is not supported on {kind}")
    if review.user_input_schema and kind != "Step":
        raise DefinitionError(f"{kind} '{name}': user_input_schema is only supported on Step")
    if review.allow_multiple_selections and not review.requires_user_input:
        raise DefinitionError(
            f"Router '{name}': allow_multiple_selections needs requires_user_input=True (route selection)"
        )
    if review.on_reject == OnReject.else_branch and kind != "Condition":
        raise DefinitionError(f"{kind} '{name}': on_reject='else' is only supported on Condition")
    if kind == "Step" and review.requires_user_input and not review.user_input_schema:
        raise DefinitionError(f"Step '{name}': requires_user_input needs a user_input_schema")
    # An error pause waits for a person too, so it may time out like any other gate.
    gates = (
        review.pre_gate
        or review.requires_output_review
        or review.requires_iteration_review
        or review.on_error == OnError.pause
    )
    if not gates and node.kind == "Step" and node.agent is not None:
        gates = True  # tool calls of the agent may pause and use the timeout
    if review.timeout is not None and not gates:
        raise DefinitionError(f"{kind} '{name}': timeout is set but nothing on it waits for a person")
    for option in ("remind_before", "remind_every", "escalate"):
        if getattr(review, option) and not gates:
            raise DefinitionError(f"{kind} '{name}': {option} is set but nothing on it waits for a person")
    if (
        kind == "Step"
        and review.requires_user_input
        and review.timeout is not None
        and review.on_timeout == OnTimeout.approve
    ):
        missing = [f.name for f in review.user_input_schema if f.required and f.default is None]
        if missing:
            raise DefinitionError(
                f"Step '{name}': on_timeout='approve' needs a default for required fields: {', '.join(missing)}"
            )
    if (
        kind == "Router"
        and review.requires_user_input
        and review.timeout is not None
        and review.on_timeout == OnTimeout.approve
        and node.selector is None
    ):
        raise DefinitionError(f"Router '{name}': on_timeout='approve' on route selection needs a selector")


# ---------------------------------------------------------------------------------------------
# The @pause decorator


def pause(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    requires_confirmation: bool = False,
    confirmation_message: str | None = None,
    requires_user_input: bool = False,
    user_input_message: str | None = None,
    user_input_schema: list | None = None,
):
    """Mark a step function as needing a person before it runs.

    ``Step(executor=fn)`` (or a bare ``fn`` in a step list) builds its HumanReview from these
    options unless an explicit ``human_review=`` is given. Bare ``@pause`` means confirmation.
    """

    def wrap(func: Callable) -> Callable:
        confirm = requires_confirmation or not requires_user_input
        func._hitl_review = HumanReview(
            requires_confirmation=confirm,
            confirmation_message=confirmation_message,
            requires_user_input=requires_user_input,
            user_input_message=user_input_message,
            user_input_schema=user_input_schema,
        )
        func._hitl_name = name
        return func

    return wrap(fn) if fn is not None else wrap
