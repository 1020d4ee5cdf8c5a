"""Template helpers of the reviewer UI (``{% load approvals %}``)."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from approvals import selectors
from approvals.bulk import BULK_ACTIONS
from workflows import registry
from workflows.engine.primitives import FIELD_TYPE_LABELS

register = template.Library()


@register.filter
def workflow_unavailable(name: str) -> bool:
    """Whether no workflow of this name is registered in this deployment (its runs cannot go on)."""
    return not registry.is_registered(name)


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
def count_label(value) -> str:
    """A capped count as people read it: "1000+" past the cap."""
    return f"{selectors.COUNT_CAP}+" if value and value > selectors.COUNT_CAP else str(value or 0)


@register.filter
def startswith(value, prefix) -> bool:
    return str(value or "").startswith(str(prefix))


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
def type_words(field_type: str) -> str:
    """A field type as people say it ("whole number", not ``int``)."""
    return FIELD_TYPE_LABELS.get(field_type, field_type)


@register.filter
def bulk_decidable(kind: str) -> bool:
    """Whether an inbox row may be decided in bulk (its kind asks for no input)."""
    return kind in BULK_ACTIONS


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


@register.simple_tag(takes_context=True)
def inbox_badge_count(context) -> int | None:
    """Pending requirements the signed-in user may resolve (the nav badge), once per request."""
    if "inbox_pending_count" in context:
        return context["inbox_pending_count"]
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(request, "_inbox_pending_count"):
        request._inbox_pending_count = selectors.inbox_count(user=user)
    return request._inbox_pending_count
