"""Template helpers of the reviewer UI (``{% load approvals %}``)."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from approvals import selectors
from approvals.services import output_text
from workflows import registry

register = template.Library()


@register.filter
def workflow_unavailable(name: str) -> bool:
    """Whether no workflow of this name is registered in this deployment (its runs cannot go on)."""
    return not registry.is_registered(name)


@register.filter
def pretty(value) -> str:
    """A value as a person reads it: text as is, anything else as indented JSON (escaped by the template)."""
    return output_text(value)


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
    """Unified diff text as (css class, line) pairs."""
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
    return lines


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
