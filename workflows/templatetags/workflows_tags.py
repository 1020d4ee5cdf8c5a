"""Template filters of runs and requirements, for the run and workflow pages and for the apps
built on them (the reviewer's pages). Output stays autoescaped, except ``diff_lines``' word marks,
whose text is escaped first."""

from __future__ import annotations

import difflib
import json
import re
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

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


@register.filter
def age(value) -> str:
    """How long ago: "just now" under a minute, else the first unit of timesince ("3 hours")."""
    if not value:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return timesince(value, depth=1)


@register.filter
def ago(value) -> str:
    """ "just now" or "3 hours ago"."""
    text = age(value)
    return text if text in ("", "just now") else f"{text} ago"


@register.filter
def is_past(value) -> bool:
    return bool(value) and value <= timezone.now()


@register.filter
def diff_lines(diff: str) -> list[tuple[str, str]]:
    """Unified diff text as (css class, line) pairs. A block of removed lines followed by as many
    added ones is a change of those lines: the words that differ inside them are marked (``del`` /
    ``ins``), so a one-word change in a long line shows the word, not the whole line."""
    lines = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            css = "diff-file"
        elif line.startswith("@@"):
            css = "diff-hunk"
        elif line.startswith("+"):
            css = "diff-add"
        elif line.startswith("-"):
            css = "diff-del"
        else:
            css = "diff-ctx"
        lines.append((css, line))
    return _mark_words(lines)


def _mark_words(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        start = i
        while i < len(lines) and lines[i][0] == "diff-del":
            i += 1
        removed = lines[start:i]
        added_start = i
        while i < len(lines) and lines[i][0] == "diff-add":
            i += 1
        added = lines[added_start:i]
        if removed and len(removed) == len(added):
            pairs = [_word_diff(old[1:], new[1:]) for (_, old), (_, new) in zip(removed, added, strict=True)]
            out += [("diff-del", mark_safe("-" + old)) for old, _ in pairs]
            out += [("diff-add", mark_safe("+" + new)) for _, new in pairs]
        else:
            out += removed + added
        if i == start:  # neither removed nor added: a context, file or hunk line
            out.append(lines[i])
            i += 1
    return out


# Below this share of common words (and spaces), two lines are shown whole, not word by word.
WORD_DIFF_MIN_SIMILARITY = 0.5


def _word_diff(old: str, new: str) -> tuple[str, str]:
    """Both lines as escaped HTML, the words only one of them has wrapped in del / ins."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < WORD_DIFF_MIN_SIMILARITY:  # a rewritten line: marking every word says nothing
        return escape(old), escape(new)
    old_html, new_html = [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            old_html.append(removed)
            new_html.append(added)
            continue
        if removed:
            old_html.append(f'<del class="diff-word">{removed}</del>')
        if added:
            new_html.append(f'<ins class="diff-word">{added}</ins>')
    return "".join(old_html), "".join(new_html)


# How people read a decision in the history (not the API's action names).
ACTION_WORDS = {
    "reject": "Rejected",
    "edit": "Edited",
    "submit": "Submitted",
    "select": "Selected a route",
    "retry": "Retried",
    "skip": "Skipped",
    "provide_result": "Gave the result",
}


CONFIRM_WORDS = {"output_review": "Approved", "iteration_review": "Accepted"}


@register.filter
def outcome_label(req) -> str:
    """An earlier round's outcome in words: "Rejected", "Edited", "Approved", "Expired"..."""
    action = (req.resolution or {}).get("action")
    if req.status == "EXPIRED":
        return "Expired"
    if req.status == "CANCELLED" or not action:
        return req.get_status_display()
    if action == "confirm":
        return CONFIRM_WORDS.get(req.kind, "Confirmed")
    return ACTION_WORDS.get(action, action)
