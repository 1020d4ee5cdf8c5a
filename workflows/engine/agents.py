"""Executor level: tools an agent may call, and the agent protocol.

An agent is any object with ``name``, ``tools`` and
``next_action(step_input, history) -> ToolCall | list[ToolCall] | str``; a ``str`` is the final
answer. ``history`` is the list of :class:`ToolResult` of the calls made so far in this step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DefinitionError
from .primitives import UserInputField


class Tool:
    """A function an agent may call, with its HITL flags (at most one of them)."""

    def __init__(
        self,
        fn: Callable,
        *,
        name: str | None = None,
        description: str | None = None,
        requires_confirmation: bool = False,
        requires_user_input: bool = False,
        user_input_fields: Sequence[str | UserInputField | dict] | None = None,
        external_execution: bool = False,
    ):
        flags = [requires_confirmation, requires_user_input, external_execution]
        self.fn = fn
        self.name = name or fn.__name__
        if sum(bool(f) for f in flags) > 1:
            raise DefinitionError(
                f"tool '{self.name}': choose at most one of requires_confirmation, "
                "requires_user_input and external_execution"
            )
        if user_input_fields and not requires_user_input:
            raise DefinitionError(f"tool '{self.name}': user_input_fields needs requires_user_input=True")
        if requires_user_input and not user_input_fields:
            raise DefinitionError(f"tool '{self.name}': requires_user_input needs user_input_fields")
        self.description = description or inspect.getdoc(fn) or ""
        self.requires_confirmation = requires_confirmation
        self.requires_user_input = requires_user_input
        self.external_execution = external_execution
        self.user_input_fields = tuple(self._field(f) for f in (user_input_fields or ()))
        self.__wrapped__ = fn
        self.__name__ = self.name
        self.__doc__ = fn.__doc__

    def _field(self, spec) -> UserInputField:
        if isinstance(spec, str):
            annotation = inspect.signature(self.fn).parameters.get(spec)
            if annotation is None:
                raise DefinitionError(f"tool '{self.name}': user_input_fields names unknown argument '{spec}'")
            ann = annotation.annotation
            ftype = (
                ann.__name__
                if isinstance(ann, type) and ann.__name__ in ("str", "int", "float", "bool", "list", "dict")
                else "str"
            )
            return UserInputField(name=spec, field_type=ftype)
        return UserInputField.coerce(spec)

    @property
    def parameters(self) -> list[dict]:
        """The arguments the tool takes, from its signature: ``{name, field_type, required}``, with
        ``field_type`` one of str, int, float, bool, list, dict, or "any" when not annotated with
        one of them. A reviewer's edited arguments are checked against this."""
        params = []
        for param in inspect.signature(self.fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            ann = param.annotation
            if isinstance(ann, str):  # postponed annotations: the name as written
                name = ann
            else:
                name = ann.__name__ if isinstance(ann, type) else ""
            ftype = name if name in ("str", "int", "float", "bool", "list", "dict") else "any"
            params.append({"name": param.name, "field_type": ftype, "required": param.default is param.empty})
        return params

    @property
    def pause_kind(self) -> str | None:
        """The requirement kind a call of this tool creates, or None when it runs freely."""
        if self.requires_confirmation:
            return "executor_confirmation"
        if self.requires_user_input:
            return "executor_user_input"
        if self.external_execution:
            return "external_execution"
        return None

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return f"<Tool {self.name}>"


def tool(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_confirmation: bool = False,
    requires_user_input: bool = False,
    user_input_fields: Sequence[str | UserInputField | dict] | None = None,
    external_execution: bool = False,
):
    """Decorator: ``@tool`` or ``@tool(requires_confirmation=True)``."""

    def wrap(func: Callable) -> Tool:
        return Tool(
            func,
            name=name,
            description=description,
            requires_confirmation=requires_confirmation,
            requires_user_input=requires_user_input,
            user_input_fields=user_input_fields,
            external_execution=external_execution,
        )

    return wrap(fn) if fn is not None else wrap


def as_tool(obj) -> Tool:
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return Tool(obj)
    raise DefinitionError(f"{obj!r} is not a tool")


@dataclass(frozen=True)
class ToolCall:
    """An agent's request to call ``name`` with ``args``."""

    name: str
    args: dict = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call, as the agent sees it in ``history``.

    ``status`` is ``ok``, ``rejected`` (a person refused it; ``note`` says why) or ``error``.
    """

    id: str
    name: str
    args: dict
    result: Any = None
    status: str = "ok"
    note: str | None = None
    turn: int = 0


ScriptItem = ToolCall | list | str | Callable


class ScriptedAgent:
    """A deterministic agent: turn *n* plays ``script[n]``.

    An item is a ``ToolCall``, a list of them (several calls at once), a ``str`` (the final
    answer) or a callable ``(history) -> `` one of those.
    """

    def __init__(self, name: str, tools: Sequence = (), script: Sequence[ScriptItem] = ()):
        self.name = name
        self.tools = [as_tool(t) for t in tools]
        self.script = list(script)

    def next_action(self, step_input, history: list[ToolResult]):
        turn = len({r.turn for r in history})
        if turn >= len(self.script):
            return history[-1].result if history else ""
        item = self.script[turn]
        if callable(item) and not isinstance(item, ToolCall):
            item = item(history)
        return item
