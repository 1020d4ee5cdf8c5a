"""The Django template backend, with output every page and socket can encode.

A lone UTF-16 surrogate cannot be encoded as UTF-8, so one in a row (stored before input was
checked, or returned by a step) made every response that showed it fail with a 500, and the run
socket close with 1011. Input is checked now (``workflows.engine.jsonvalues``); rows from before
must still render, so rendered text shows U+FFFD in place of such a character. Everything that
renders HTML (views, htmx partials, the consumers, the admin) goes through this backend.
"""

from __future__ import annotations

import re

from django.template.backends import django as django_backend
from django.utils.safestring import SafeString, mark_safe

# In a Python str a surrogate code point is always lone: valid pairs are decoded to one character.
_SURROGATE = re.compile("[\ud800-\udfff]")


def displayable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the same object when there is none)."""
    if not _SURROGATE.search(text):
        return text
    cleaned = _SURROGATE.sub("\ufffd", text)
    return mark_safe(cleaned) if isinstance(text, SafeString) else cleaned


class Template(django_backend.Template):
    def render(self, context=None, request=None):
        return displayable(super().render(context, request))


class DjangoTemplates(django_backend.DjangoTemplates):
    def from_string(self, template_code):
        return Template(self.engine.from_string(template_code), self)

    def get_template(self, template_name):
        return Template(super().get_template(template_name).template, self)
