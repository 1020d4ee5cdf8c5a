"""An agent backed by any OpenAI-compatible chat-completions endpoint.

``from workflows.engine.openai_agent import OpenAIChatAgent``

It implements the engine's agent protocol (``name``, ``tools``, ``next_action``): each turn it
sends the step's input and the tool calls made so far to ``POST {base_url}/chat/completions`` and
returns the model's tool calls (``ToolCall`` or a list of them) or its final answer (``str``). The
engine, not the agent, runs the tools and applies their HITL flags, so a confirmed, rejected or
externally executed call reaches the model as an ordinary ``tool`` message on the next turn.

Standard library only (``urllib.request`` and ``json``): the engine takes no HTTP dependency.
Settings not given to the constructor are read from the environment when a request is made,
never at import: ``OPENAI_MODEL`` (default ``gpt-4o-mini``), ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``) and ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import enum
import inspect
import json
import os
import re
import types
import typing
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from .agents import Tool, ToolCall, ToolResult, as_tool

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "OpenAIChatAgent", "tool_schema"]


class OpenAIChatAgent:
    """An engine agent whose decisions come from a chat-completions model.

    ``tools`` are engine ``Tool`` objects or plain callables (wrapped with ``as_tool``); their
    JSON schemas are derived from the signatures and docstrings (see :func:`tool_schema`).
    ``model``, ``base_url`` and ``api_key`` left as ``None`` fall back to the environment at
    request time. HTTP and transport failures raise ``RuntimeError``; the engine turns that into
    a step failure, so the step's ``on_error`` applies.
    """

    def __init__(
        self,
        name: str,
        tools: Sequence = (),
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        instructions: str | None = None,
        temperature: float | None = None,
        timeout: float = 60,
    ):
        self.name = name
        self.tools: list[Tool] = [as_tool(t) for t in tools]
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.instructions = instructions
        self.temperature = temperature
        self.timeout = timeout

    def __repr__(self):
        return f"<OpenAIChatAgent {self.name}>"

    # -- the agent protocol ---------------------------------------------------------------------
    def next_action(self, step_input, history: list[ToolResult]) -> ToolCall | list[ToolCall] | str:
        body = self.request_body(step_input, history)
        message = self._complete(body)
        calls = message.get("tool_calls") or []
        if calls:
            return self._tool_calls(calls, history)
        return _content_text(message.get("content")) or message.get("refusal") or ""

    # -- building the request -------------------------------------------------------------------
    def request_body(self, step_input, history: Sequence[ToolResult] = ()) -> dict:
        """The JSON body of the next chat-completions request (without sending it)."""
        body: dict[str, Any] = {
            "model": self.model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL,
            "messages": self.messages(step_input, history),
        }
        if self.tools:
            body["tools"] = [tool_schema(t) for t in self.tools]
        if self.temperature is not None:
            body["temperature"] = self.temperature
        return body

    def messages(self, step_input, history: Sequence[ToolResult] = ()) -> list[dict]:
        messages: list[dict] = []
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
        messages.append({"role": "user", "content": _user_message(step_input)})
        turns: dict[int, list[ToolResult]] = {}
        for result in history:
            turns.setdefault(result.turn, []).append(result)
        for turn in sorted(turns):
            results = turns[turn]
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": r.id,
                            "type": "function",
                            "function": {"name": r.name, "arguments": json.dumps(r.args or {}, ensure_ascii=False)},
                        }
                        for r in results
                    ],
                }
            )
            messages.extend({"role": "tool", "tool_call_id": r.id, "content": _tool_content(r)} for r in results)
        return messages

    # -- talking to the endpoint ----------------------------------------------------------------
    def _endpoint(self) -> tuple[str, str | None]:
        base_url = (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        api_key = self.api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url == DEFAULT_BASE_URL:
            raise RuntimeError(
                f"Agent '{self.name}': no API key for {base_url}; set OPENAI_API_KEY or pass api_key= "
                "(or point base_url / OPENAI_BASE_URL at a server that needs none)"
            )
        return f"{base_url}/chat/completions", api_key

    def _complete(self, body: dict) -> dict:
        url, api_key = self._endpoint()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(
            url, data=json.dumps(body, ensure_ascii=False).encode(), headers=headers, method="POST"
        )
        where = f"Agent '{self.name}': chat completion at {url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise RuntimeError(f"{where} failed with HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout
            reason = getattr(exc, "reason", None) or exc
            raise RuntimeError(f"{where} failed: {reason}") from exc
        try:
            data = json.loads(raw)
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RuntimeError(f"{where} returned an unexpected response: {_clip(raw)}") from exc
        if not isinstance(message, dict):
            raise RuntimeError(f"{where} returned an unexpected message: {_clip(raw)}")
        return message

    def _tool_calls(self, calls: list, history: Sequence[ToolResult]) -> ToolCall | list[ToolCall]:
        turn = len({r.turn for r in history})
        used = {r.id for r in history}
        out = []
        for i, call in enumerate(calls):
            function = (call or {}).get("function") or {}
            name = function.get("name")
            if not name:
                raise ValueError(f"Agent '{self.name}': the model returned a tool call without a name: {call!r}")
            args = _arguments(name, function.get("arguments"))
            # Call ids key the engine's record of results: they must be unique within the step,
            # and some servers reuse ids such as "call_0" on every turn.
            call_id = call.get("id") or None
            if call_id is None or call_id in used:
                call_id = f"{call_id or 'call'}-t{turn}.{i}"
            used.add(call_id)
            out.append(ToolCall(name=name, args=args, id=call_id))
        return out[0] if len(out) == 1 else out


# -- tool schemas -------------------------------------------------------------------------------
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_ANY_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
_PARAM_LINE = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<desc>.*)$")


def tool_schema(tool: Tool | Any) -> dict:
    """The chat-completions ``tools`` entry for ``tool`` (a ``Tool`` or a plain callable).

    Parameters come from ``inspect.signature`` of the function and its type hints; a parameter
    is required unless it has a default or is ``Optional``. Per-parameter descriptions come from
    a Google-style ``Args:`` section. A ``requires_user_input`` tool's ``user_input_fields`` are
    left out: a person supplies them and the engine merges them into the arguments.
    """
    tool = as_tool(tool)
    fn = tool.fn
    doc = inspect.getdoc(fn) or ""
    description = _summary(doc) if tool.description == doc else tool.description
    arg_docs = _arg_docs(doc)
    hidden = {f.name for f in tool.user_input_fields} if tool.requires_user_input else set()
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        hints = {}
    properties: dict[str, dict] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in hidden:
            continue
        annotation = hints.get(param.name, param.annotation)
        schema, optional = _json_schema(annotation, param.default)
        if param.name in arg_docs:
            schema = {**schema, "description": arg_docs[param.name]}
        properties[param.name] = schema
        if param.default is param.empty and not optional:
            required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return {"type": "function", "function": {"name": tool.name, "description": description, "parameters": parameters}}


_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
_BUILTIN_NAMES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


def _json_schema(annotation, default=inspect.Parameter.empty) -> tuple[dict, bool]:
    """(JSON schema, is optional) for a type annotation."""
    if annotation is inspect.Parameter.empty:
        if default is inspect.Parameter.empty or default is None:
            return {}, default is None
        return _json_schema(type(default))[0], False
    if isinstance(annotation, str):  # an annotation get_type_hints could not resolve
        annotation = _BUILTIN_NAMES.get(annotation.split("[", 1)[0].strip(), Any)
    if annotation is None or annotation is type(None):
        return {"type": "null"}, True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _json_schema(args[0], default)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        optional = len(members) < len(args)
        if len(members) == 1:
            return _json_schema(members[0])[0], optional
        return {"anyOf": [_json_schema(a)[0] for a in members]}, optional
    if origin is typing.Literal:
        values = list(args)
        schema: dict[str, Any] = {"enum": values}
        kinds = {_SCALARS.get(type(v)) for v in values}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema, None in values
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}, default is None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [m.value for m in annotation]}, default is None
    container = origin or annotation
    if isinstance(container, type) and issubclass(container, (Mapping, dict)):
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = _json_schema(args[1])[0]
        return schema, default is None
    if isinstance(container, type) and issubclass(container, (list, tuple, set, frozenset, Sequence)):
        if container in (str, bytes):
            return {"type": "string"}, default is None
        schema = {"type": "array"}
        homogeneous = len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)  # list[X], tuple[X, ...]
        item = args[0] if homogeneous else None
        if item is not None and item is not Any:
            schema["items"] = _json_schema(item)[0]
        return schema, default is None
    return {}, default is None  # Any or an unknown type: leave it to the description


def _summary(doc: str) -> str:
    """The docstring's first paragraph, on one line (empty when it opens with a section)."""
    first = doc.strip().split("\n\n", 1)[0].strip()
    if not first or _ANY_SECTION.match(first.splitlines()[0].strip()):
        return ""
    return " ".join(line.strip() for line in first.splitlines())


def _arg_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    found: dict[str, str] = {}
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        header = lines[i]
        i += 1
        if not _SECTION.match(header.strip()):
            continue
        base = len(header) - len(header.lstrip())
        item_indent = None
        current = None
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            indent = len(line) - len(line.lstrip())
            if stripped and indent <= base:
                break  # the section ended (a new section or prose at the header's level)
            i += 1
            if not stripped:
                continue
            if item_indent is None:
                item_indent = indent
            match = _PARAM_LINE.match(stripped) if indent <= item_indent else None
            if match:
                current = match.group("name")
                found[current] = match.group("desc").strip()
            elif current is not None:
                found[current] = f"{found[current]} {stripped}".strip()
    return found


# -- messages -----------------------------------------------------------------------------------
def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _user_message(step_input) -> str:
    """The step's input plus the HITL context, with agno's labels."""
    data = getattr(step_input, "additional_data", None) or {}
    parts = [_text(getattr(step_input, "input", None))]
    user_input = data.get("user_input")
    if user_input:
        parts.append("User preferences:\n" + "\n".join(f"- {k}: {_text(v)}" for k, v in user_input.items()))
    if data.get("previous_output") is not None and data.get("previous_output") != "":
        parts.append("Your previous output:\n" + _text(data["previous_output"]))
    if data.get("rejection_feedback"):
        parts.append("Feedback from reviewer:\n" + _text(data["rejection_feedback"]))
    return "\n\n".join(p for p in parts if p)


def _tool_content(result: ToolResult) -> str:
    if result.status == "rejected":
        return (
            f"The user rejected this tool call: {result.note}" if result.note else "The user rejected this tool call."
        )
    if result.status == "error":
        return f"Error: {result.note or 'the tool failed'}"
    return json.dumps(result.result, ensure_ascii=False, default=str)


def _content_text(content) -> str:
    if isinstance(content, list):  # content parts, as some servers return them
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _arguments(name: str, raw) -> dict:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):  # some servers send an object rather than a JSON string
        return raw
    try:
        args = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The model called tool '{name}' with arguments that are not valid JSON: {_clip(raw)}"
        ) from exc
    if not isinstance(args, dict):
        raise ValueError(f"The model called tool '{name}' with arguments that are not a JSON object: {_clip(raw)}")
    return args


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except Exception:
        raw = b""
    try:
        data = json.loads(raw)
    except ValueError:
        return _clip(raw) or exc.reason or "no details"
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("detail")))
        if isinstance(error, dict):
            error = error.get("message") or error
        if error:
            return _text(error)
    return _clip(raw)


def _clip(raw, limit: int = 500) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."
