"""Template helpers of the reviewer UI (``{% load approvals %}``)."""

from __future__ import annotations

from django import template

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
def count_label(value) -> str:
    """A capped count as people read it: "1000+" past the cap."""
    return f"{selectors.COUNT_CAP}+" if value and value > selectors.COUNT_CAP else str(value or 0)


@register.filter
def type_words(field_type: str) -> str:
    """A field type as people say it ("whole number", not ``int``)."""
    return FIELD_TYPE_LABELS.get(field_type, field_type)


@register.filter
def bulk_decidable(kind: str) -> bool:
    """Whether an inbox row may be decided in bulk (its kind asks for no input)."""
    return kind in BULK_ACTIONS
