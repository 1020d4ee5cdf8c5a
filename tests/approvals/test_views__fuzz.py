"""Fuzz the decision form with hypothesis: thousands of generated POSTs over every kind of
requirement (every action, each field filled with odd text, JSON with values no row may hold,
NUL characters, wrong or huge versions, the live diff's requests). None gets a 5xx; a refusal
changes nothing (status, version and resolution as they were, no decision recorded)."""

from __future__ import annotations

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory
from django.urls import reverse
from django_htmx.middleware import HtmxDetails
from hypothesis import given
from hypothesis import strategies as st

from approvals import views
from approvals.models import Decision
from tests.fuzz import EXAMPLES, FUZZ, form_texts, json_values, pending_of_every_kind, rolled_back, snapshot
from workflows.api import ALL_ACTIONS

pytestmark = pytest.mark.django_db

FIELDS = ["feedback", "output", "result", "confirmed", "diff_only", "value-city", "value-days", "value-budget"]
FIELDS += ["value-pace", "value-amount"]

field_values = st.one_of(form_texts, json_values)  # JSON text is ASCII: escapes, not surrogates
forms = st.fixed_dictionaries(
    {"action": st.one_of(st.sampled_from(ALL_ACTIONS), form_texts)},
    optional={
        "version": st.one_of(st.just("1"), form_texts),
        "choices": st.lists(st.one_of(st.sampled_from(["quick", "deep", "expert"]), form_texts), max_size=3),
        **dict.fromkeys(FIELDS, field_values),
    },
)


def test_decision_form_every_kind(reviewer):
    pending = pending_of_every_kind()
    factory = RequestFactory()
    seen = []

    def post(req, data: dict, htmx: bool):
        headers = {"HX-Request": "true"} if htmx else {}
        request = factory.post(reverse("approvals:decide", args=[req.id]), data, headers=headers)
        request.user, request.session = reviewer, SessionStore()
        request._dont_enforce_csrf_checks = True
        request.htmx = HtmxDetails(request)
        request._messages = FallbackStorage(request)
        return views.decide(request, requirement_id=req.id)

    @FUZZ
    @given(kind=st.sampled_from(sorted(pending)), data=forms, htmx=st.booleans())
    def check(kind, data, htmx):
        seen.append(data)
        req = pending[kind]
        before = snapshot(req)
        with rolled_back():
            response = post(req, data, htmx)
            assert response.status_code < 500
            if response.status_code != 302:  # not decided: a form again, a conflict, a preview
                assert snapshot(req) == before
                assert not Decision.objects.filter(requirement_id=req.id).exists()

    check()
    assert len(seen) >= EXAMPLES
