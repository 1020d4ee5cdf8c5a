"""Requirements: one per pause, the thing a person resolves.

A requirement's kind decides which actions it accepts; :func:`clean_decision` validates a
decision and is the single place that does so (the Python methods, the services, the forms and
the API all go through it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import DecisionError, ExpiredError, ValidationError
from .jsonvalues import check_json, text_problem
from .primitives import StepOutput, UserInputField, validate_user_input

KINDS = (
    "confirmation",
    "user_input",
    "output_review",
    "route_selection",
    "iteration_review",
    "error",
    "executor_confirmation",
    "executor_user_input",
    "external_execution",
)
EXECUTOR_KINDS = ("executor_confirmation", "executor_user_input", "external_execution")

PENDING, RESOLVED, EXPIRED, CANCELLED = "PENDING", "RESOLVED", "EXPIRED", "CANCELLED"
REQUIREMENT_STATUSES = (PENDING, RESOLVED, EXPIRED, CANCELLED)

# The actions each kind accepts.
ACTIONS = {
    "confirmation": ("confirm", "reject"),
    "user_input": ("submit", "reject"),
    "output_review": ("confirm", "edit", "reject"),
    "route_selection": ("select", "reject"),
    "iteration_review": ("confirm", "reject"),
    "error": ("retry", "skip"),
    "executor_confirmation": ("confirm", "edit", "reject"),
    "executor_user_input": ("submit", "reject"),
    "external_execution": ("provide_result", "reject"),
}
ALL_ACTIONS = tuple(dict.fromkeys(action for actions in ACTIONS.values() for action in actions))

MAX_FEEDBACK = 10_000


def clean_decision(req: Requirement, action: str, data: Any = None) -> dict:
    """Validate ``action`` + ``data`` for ``req``; return the resolution to store.

    Raises ``DecisionError`` for an action the kind does not take and ``ValidationError`` (with
    one message per field) for bad data.
    """
    allowed = ACTIONS[req.kind]
    if action not in allowed:
        raise DecisionError(f"A {req.kind} requirement accepts {', '.join(allowed)}; '{action}' is not one of them.")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValidationError({"data": "Expected an object."})
    _check_data(data)
    if action == "reject":
        feedback = data.get("feedback")
        if feedback is not None and not isinstance(feedback, str):
            raise ValidationError({"feedback": "Expected text."})
        if feedback and len(feedback) > MAX_FEEDBACK:
            raise ValidationError({"feedback": f"At most {MAX_FEEDBACK} characters."})
        return {"action": "reject", "feedback": feedback or None}
    if action in ("confirm", "retry", "skip"):
        return {"action": action}
    if action == "submit":
        values = data.get("values", data)
        cleaned = validate_user_input(req.schema, values)
        return {"action": "submit", "values": cleaned}
    if action == "edit" and req.kind == "executor_confirmation":
        return {"action": "edit", "args": clean_tool_args(req.payload.get("parameters"), data.get("args"))}
    if action == "edit":
        if data.get("output") is None:  # a client sending null would wipe the output unseen
            raise ValidationError({"output": "This field is required."})
        return {"action": "edit", "output": data["output"]}
    if action == "select":
        choices = data.get("choices")
        if isinstance(choices, str):
            choices = [choices]
        available = req.payload.get("choices", [])
        if not choices or not isinstance(choices, list):
            raise ValidationError({"choices": "Select at least one route."})
        unknown = [c for c in choices if c not in available]
        if unknown:
            raise ValidationError(
                {"choices": f"Unknown route(s): {', '.join(map(str, unknown))}. Choose from: {', '.join(available)}."}
            )
        if len(set(choices)) != len(choices):
            raise ValidationError({"choices": "A route may be selected once."})
        if len(choices) > 1 and not req.payload.get("multiple"):
            raise ValidationError({"choices": "Select exactly one route."})
        return {"action": "select", "choices": list(choices)}
    if action == "provide_result":
        if "result" not in data or data["result"] is None:
            raise ValidationError({"result": "This field is required."})
        return {"action": "provide_result", "result": data["result"]}
    raise DecisionError(f"Unknown action '{action}'.")  # pragma: no cover - ACTIONS covers all


def _check_data(data: dict) -> None:
    """The decision's data is JSON the system accepts; a problem is named after its field."""

    def name(key, default: str) -> str:
        return key if isinstance(key, str) and not text_problem(key) else default

    for key, value in data.items():
        if key == "values" and isinstance(value, dict):
            for field_name, field_value in value.items():
                check_json(field_value, name(field_name, "values"))
        else:
            check_json(value, name(key, "data"))
    check_json(data, "data")  # the keys, and the size and depth of the whole


def clean_tool_args(parameters: list[dict] | None, args: Any) -> dict:
    """A reviewer's edited tool-call arguments, checked against the tool's parameters (names,
    required ones, types): the call then runs with them instead of the agent's."""
    if not isinstance(args, dict):
        raise ValidationError({"args": "Expected an object of argument values."})
    if parameters is None:  # a requirement made before parameters were recorded: names unknown
        return args
    by_name = {p["name"]: p for p in parameters}
    problems = []
    for name in args:
        if name not in by_name:
            problems.append(f"{name}: unknown argument.")
    for name, spec in by_name.items():
        if name not in args:
            if spec.get("required"):
                problems.append(f"{name}: required.")
            continue
        if spec.get("field_type", "any") != "any":
            message = UserInputField(name=name, field_type=spec["field_type"]).check(args[name])
            if message and args[name] is not None:
                problems.append(f"{name}: {message}")
    if problems:
        raise ValidationError({"args": " ".join(problems)})
    return args


@dataclass
class Requirement:
    """A pause waiting for (or resolved by) a person.

    ``key`` identifies the gate inside the run (runtime path, kind and attempt); it is stable
    across resumes, so replaying the run finds the same requirement again.
    """

    run_id: str
    key: str
    path: str
    step_name: str
    kind: str
    message: str | None = None
    payload: dict = field(default_factory=dict)
    iteration: int | None = None
    attempt: int = 0
    status: str = PENDING
    resolution: dict | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    timeout_at: datetime | None = None
    on_timeout: str | None = None
    version: int = 1
    assignees: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    batch: str | None = None
    created_at: datetime | None = None
    seq: int = 0
    # Teams (HumanReview's separation_of_duties, approvals_required, approvals_per_group, priority):
    # only non-defaults; the store writes them to the row, people's services apply them.
    team: dict = field(default_factory=dict)
    due_at: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # A decision made on this object that is not yet stored (see Workflow.continue_run).
    local: dict | None = field(default=None, repr=False, compare=False)
    _partial_input: dict = field(default_factory=dict, repr=False, compare=False)
    _clock: Any = field(default=None, repr=False, compare=False)
    # The reviewed node's kind and HumanReview, when the workflow is known (WorkflowRunOutput).
    step_type: str | None = field(default=None, repr=False, compare=False)
    _review: Any = field(default=None, repr=False, compare=False)

    # -- reading -------------------------------------------------------------------------------
    @property
    def schema(self) -> list[UserInputField]:
        return [UserInputField.coerce(f) for f in self.payload.get("schema", [])]

    @property
    def is_active(self) -> bool:
        return self.status == PENDING

    @property
    def is_resolved(self) -> bool:
        return self.status != PENDING or self.local is not None

    @property
    def is_executor(self) -> bool:
        return self.kind in EXECUTOR_KINDS

    @property
    def step_output(self) -> StepOutput | None:
        """What the reviewer sees (output and iteration reviews, tool calls), as a StepOutput."""
        if "output" not in self.payload:
            return None
        return StepOutput(step_name=self.step_name, content=self.payload["output"])

    # -- agno's names for what this requirement asks ---------------------------------------------
    @property
    def requires_confirmation(self) -> bool:
        """A confirmation, or user input that must also be confirmed (a step asking both)."""
        if self.kind in ("confirmation", "executor_confirmation"):
            return True
        return self.kind == "user_input" and bool(self._review and self._review.requires_confirmation)

    @property
    def confirmation_message(self) -> str | None:
        if self.kind in ("confirmation", "executor_confirmation"):
            return self.message
        return self._review.confirmation_message if self.requires_confirmation else None

    @property
    def requires_user_input(self) -> bool:
        return self.kind in ("user_input", "executor_user_input")

    @property
    def user_input_schema(self) -> list[UserInputField]:
        return self.schema

    @property
    def requires_output_review(self) -> bool:
        return self.kind == "output_review"

    @property
    def requires_route_selection(self) -> bool:
        return self.kind == "route_selection"

    @property
    def is_timed_out(self) -> bool:
        return self.status == EXPIRED

    @property
    def error_type(self) -> str | None:
        return self.payload.get("error_type")

    @property
    def step_index(self) -> int:
        """The index of the top-level step this requirement is in (its path's first part)."""
        return int(self.path.split("/", 1)[0])

    @property
    def needs_confirmation(self) -> bool:
        return self.is_active and self.local is None and self.requires_confirmation

    @property
    def needs_user_input(self) -> bool:
        return self.is_active and self.local is None and self.requires_user_input

    @property
    def needs_output_review(self) -> bool:
        return self.is_active and self.local is None and self.kind == "output_review"

    @property
    def needs_route_selection(self) -> bool:
        return self.is_active and self.local is None and self.kind == "route_selection"

    @property
    def rejection_feedback(self) -> str | None:
        res = self.local or self.resolution or {}
        return res.get("feedback")

    @property
    def edited_output(self):
        res = self.local or self.resolution or {}
        return res.get("output")

    def get_user_input(self, name: str):
        return self.user_input.get(name)

    @property
    def confirmed(self) -> bool | None:
        """True once confirmed (or approved, edited, submitted, selected), False once rejected."""
        action = self.action
        return None if action is None else action != "reject"

    @property
    def available_choices(self) -> list[str]:
        return list(self.payload.get("choices", []))

    @property
    def tool_name(self) -> str | None:
        return self.payload.get("tool")

    @property
    def tool_args(self) -> dict:
        return dict(self.payload.get("args") or {})

    @property
    def error_message(self) -> str | None:
        return self.payload.get("error")

    @property
    def retry_count(self) -> int:
        return self.attempt

    @property
    def action(self) -> str | None:
        res = self.local or self.resolution
        return res.get("action") if res else None

    @property
    def feedback(self) -> str | None:
        res = self.resolution or {}
        return res.get("feedback")

    @property
    def user_input(self) -> dict:
        res = self.local or self.resolution or {}
        return dict(res.get("values") or self._partial_input)

    @property
    def selected_choices(self) -> list[str]:
        res = self.local or self.resolution or {}
        return list(res.get("choices") or [])

    # -- deciding (on this object; stored by Workflow.continue_run) ----------------------------
    def decide(self, action: str, data: dict | None = None) -> Requirement:
        if self.status != PENDING:
            raise DecisionError(f"This requirement is already {self.status.lower()}.")
        now = self._clock() if self._clock else None
        if now is not None and self.timeout_at is not None and now >= self.timeout_at:
            raise ExpiredError("This requirement expired at its deadline; the decision was not applied.")
        self.local = clean_decision(self, action, data)
        return self

    def confirm(self):
        if self.kind == "user_input" and self.requires_confirmation:  # confirms the input given
            return self.decide("submit", {"values": dict(self._partial_input)})
        return self.decide("confirm")

    def reject(self, feedback: str | None = None):
        return self.decide("reject", {"feedback": feedback})

    def edit(self, output):
        return self.decide("edit", {"output": output})

    def set_user_input(self, **values):
        """Merge ``values`` into this form; it is decided once every required field is there."""
        validate_user_input(self.schema, values, partial=True)
        self._partial_input.update(values)
        missing = [f.name for f in self.schema if f.required and f.name not in self._partial_input]
        if not missing and not self.requires_confirmation:  # else confirm() decides it
            self.decide("submit", {"values": dict(self._partial_input)})
        return self

    @property
    def awaits_confirmation(self) -> bool:
        """Input was given to a requirement that must also be confirmed, and it was not (yet)."""
        return self.is_active and self.local is None and self.requires_confirmation and bool(self._partial_input)

    def provide_user_input(self, values: dict):
        return self.decide("submit", {"values": values})

    def select(self, *choices: str):
        return self.decide("select", {"choices": list(choices)})

    def select_single(self, choice: str):
        return self.select(choice)

    def select_multiple(self, choices):
        return self.select(*choices)

    def set_external_execution_result(self, result):
        return self.decide("provide_result", {"result": result})

    def retry(self):
        return self.decide("retry")

    def skip(self):
        return self.decide("skip")

    # -- serialising -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "key": self.key,
            "path": self.path,
            "step_name": self.step_name,
            "kind": self.kind,
            "message": self.message,
            "payload": self.payload,
            "iteration": self.iteration,
            "attempt": self.attempt,
            "status": self.status,
            "resolution": self.resolution,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "timeout_at": self.timeout_at.isoformat() if self.timeout_at else None,
            "on_timeout": self.on_timeout,
            "version": self.version,
            "assignees": list(self.assignees),
            "groups": list(self.groups),
            "batch": self.batch,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "seq": self.seq,
            **({"team": dict(self.team)} if self.team else {}),
            **({"due_at": self.due_at.isoformat()} if self.due_at else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Requirement:
        data = dict(data)
        for name in ("resolved_at", "timeout_at", "created_at", "due_at"):
            if data.get(name):
                data[name] = datetime.fromisoformat(data[name])
        return cls(**data)


def effective_action(req: Requirement) -> str:
    """The action the engine applies: the person's, or the one ``on_timeout`` stands for."""
    res = req.resolution or {}
    if req.status == EXPIRED:
        on_timeout = res.get("on_timeout") or req.on_timeout or "cancel"
        if on_timeout == "approve":
            return {
                "confirmation": "confirm",
                "user_input": "submit",
                "output_review": "confirm",
                "route_selection": "select",
                "iteration_review": "confirm",
                "error": "retry",
                "executor_confirmation": "confirm",
            }.get(req.kind, "reject")
        if on_timeout == "reject":  # a person's reject of this kind; an error's is a skip
            return "skip" if req.kind == "error" else "reject"
        return "timeout_skip" if on_timeout == "skip" else "timeout_cancel"
    return res.get("action")
