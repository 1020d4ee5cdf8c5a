"""The JSON the system accepts, decided in one place.

Every way data comes in (the JSON API, the decision and start forms, the Python API's ``run`` and
decisions) goes through :func:`check_json` or :func:`parse_json`, so what one entry point stores
every page, socket and database can show and hold:

- text is valid Unicode without NUL: a lone UTF-16 surrogate (``"\\ud800"``) cannot be encoded
  for a page or a socket, and PostgreSQL refuses both in text and jsonb;
- numbers are finite: ``1e400`` parses to infinity, and NaN/Infinity are not JSON (PostgreSQL
  refuses them, other JSON parsers too);
- nesting is bounded (well under the databases' JSON limits and Python's recursion limit, with
  room for the levels the run state wraps around a value), and so is the size.

It also decides how a value reads as text (:func:`pretty_json`) and how an edit reads as a diff
(:func:`edit_diff`): pages, the decision form and the audit row all use these, so the diff a run
page shows for an edit is the one the audit row stored.

Pure Python (no Django): the engine's ``clean_decision`` uses it too.
"""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

from .errors import ValidationError

MAX_DEPTH = 64
MAX_BYTES = 1_000_000


class MalformedJSON(ValidationError):
    """The text is not JSON at all (as opposed to JSON holding values the system refuses)."""


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored and shown, or None when it can."""
    if "\x00" in text:
        return "Null characters (NUL) are not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains an invalid character (a lone UTF-16 surrogate)."
    return None


def check_text(text: str, field: str) -> None:
    """Raise ``ValidationError({field: ...})`` unless ``text`` is storable text."""
    problem = text_problem(text)
    if problem:
        raise ValidationError({field: problem})


def _problem(value: Any, max_depth: int) -> str | None:
    # Iterative, so that a deeply nested value cannot exhaust the stack while it is refused.
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif item is None or isinstance(item, (bool, int)):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "Numbers must be finite (no NaN, Infinity or overflowing values such as 1e400)."
        elif isinstance(item, (list, tuple, dict)):
            if depth >= max_depth:
                return f"Nested too deeply: at most {max_depth} levels of lists and objects."
            if isinstance(item, dict):
                for key in item:
                    if isinstance(key, str):
                        problem = text_problem(key)
                        if problem:
                            return problem
                    elif not (key is None or isinstance(key, (bool, int))):
                        return "Object keys must be text."
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        else:
            return "Must be JSON (text, numbers, true/false, null, lists, objects)."
    return None


def check_json(value: Any, field: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``ValidationError({field: message})`` unless ``value`` is JSON the system accepts."""
    problem = _problem(value, max_depth)
    if problem is None:
        try:
            size = len(json.dumps(value, allow_nan=False).encode())
        except ValueError:  # an integer too long to write out
            problem = "A number is too long."
        else:
            if size > max_bytes:
                problem = f"At most {max_bytes} bytes of JSON."
    if problem:
        raise ValidationError({field: problem})


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes, field: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text and check it as :func:`check_json` does.

    Raises ``MalformedJSON`` when the text is not JSON (bytes that are not UTF-8, NaN/Infinity,
    syntax errors) and ``ValidationError`` when it is JSON the system does not accept.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON({field: "The text must be UTF-8."}) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # the parser recurses once per level: it gave up, the text is unread
        raise MalformedJSON({field: f"Nested too deeply: at most {max_depth} levels of lists and objects."}) from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON({field: f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."}) from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise MalformedJSON({field: f"Not valid JSON: {exc}."}) from None
    check_json(value, field, max_bytes=max_bytes, max_depth=max_depth)
    return value


def pretty_json(value: Any) -> str:
    """How a value reads for a person: text as it is, anything else as indented JSON.

    Keys are sorted: PostgreSQL's jsonb does not keep the order they were written in, so only a
    sorted text reads the same on both databases (and diffs of one value against another line up).
    """
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted; a value holding itself
        return repr(value)


def edit_diff(shown: Any, edited: Any) -> str:
    """Unified diff (text) from the value a reviewer was shown to the one they saved; empty when
    both read the same."""
    lines = difflib.unified_diff(
        pretty_json(shown).splitlines(),
        pretty_json(edited).splitlines(),
        fromfile="shown output",
        tofile="edited output",
        lineterm="",
    )
    return "\n".join(lines)
