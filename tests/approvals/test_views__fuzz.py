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
from tests.fuzz import (
    EXAMPLES,
    FUZZ,
    assert_storable,
    form_texts,
    json_values,
    pending_of_every_kind,
    rolled_back,
    snapshot,
)
from workflows.engine.requirements import ACTIONS, ALL_ACTIONS
from workflows.models import Requirement

pytestmark = pytest.mark.django_db

ROUTES = ["quick", "deep", "expert"]
VALUE_FIELDS = ["value-city", "value-days", "value-budget", "value-pace", "value-amount"]
field_values = st.one_of(form_texts, json_values)  # JSON text is ASCII: escapes, not surrogates


@st.composite
def forms(draw, kind: str) -> dict:
    """Mostly a decision the kind takes, with the current version and the fields its action
    reads, plus now and then any other field of the page."""
    action = draw(st.one_of(*[st.sampled_from(ACTIONS[kind])] * 3, st.sampled_from(ALL_ACTIONS), form_texts))
    fields = {
        "reject": {"feedback": field_values},
        "submit": dict.fromkeys(VALUE_FIELDS, field_values),
        "edit": {"output": field_values, "confirmed": st.sampled_from(["live", "", "x"])},
        "select": {"choices": st.lists(st.one_of(st.sampled_from(ROUTES), form_texts), max_size=3)},
        "provide_result": {"result": field_values},
    }.get(action, {})
    others = {name: field_values for name in ["feedback", "output", "result", "diff_only", *VALUE_FIELDS]}
    return draw(
        st.fixed_dictionaries(
            {"action": st.just(action), "version": st.one_of(st.just("1"), st.just("1"), form_texts)},
            optional={**others, **fields},
        )
        if draw(st.integers(0, 3)) == 0
        else st.fixed_dictionaries({"action": st.just(action), "version": st.just("1"), **fields})
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
    @given(draw=st.data(), htmx=st.booleans())
    def check(draw, htmx):
        kind = draw.draw(st.sampled_from(sorted(pending)))
        data = draw.draw(forms(kind))
        seen.append(data)
        req = pending[kind]
        before = snapshot(req)
        with rolled_back():
            response = post(req, data, htmx)
            assert response.status_code < 500
            if response.status_code != 302:  # not decided: a form again, a conflict, a preview
                assert snapshot(req) == before
                assert not Decision.objects.filter(requirement_id=req.id).exists()
            else:
                assert_storable(Requirement.objects.get(id=req.id).resolution)

    check()
    assert len(seen) >= EXAMPLES
