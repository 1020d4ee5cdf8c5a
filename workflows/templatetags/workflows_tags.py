"""Template filters of the run and workflow pages. Output stays autoescaped: none marks safe."""

from __future__ import annotations

import json
from datetime import timedelta

from django import template

from workflows.engine.jsonvalues import pretty_json

register = template.Library()
register.filter(pretty_json)


@register.filter
def compact_json(value) -> str:
    """``value`` as one-line JSON (a plain string stays as it is)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return repr(value)


@register.filter
def is_blank(value) -> bool:
    return value is None or value == "" or value == {} or value == []


@register.filter
def duration(value: timedelta | None) -> str:
    """A short human duration: ``850 ms``, ``12.3 s``, ``4 min 5 s``, ``2 h 3 min``."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def elapsed(start, end) -> str:
    """The duration from ``start`` to ``end`` (two datetimes)."""
    if start is None or end is None:
        return "—"
    return duration(end - start)


@register.filter
def status_class(status: str) -> str:
    """A CSS class for a run, step or requirement status."""
    return f"status-{str(status).lower()}"
