"""Fuzz the JSON API with hypothesis: thousands of generated payloads per entry point (run start,
resolve with every action on every kind of requirement, the requirement list's filters). None
gets a 5xx; every answer is JSON; a refusal changes nothing (no run created, the requirement's
status, version and resolution as they were, no decision recorded)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.urls import resolve, reverse
from hypothesis import given
from hypothesis import strategies as st

from approvals.models import Decision
from tests.fuzz import (
    EXAMPLES,
    FUZZ,
    assert_storable,
    garbage_bodies,
    json_numbers,
    json_object,
    json_values,
    object_text,
    pending_of_every_kind,
    rolled_back,
    snapshot,
    texts,
)
from workflows.engine.requirements import ACTIONS, ALL_ACTIONS
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db


class Api:
    """Calls the API's views in-process with a logged-in user (no middleware: thousands of
    requests in seconds; the views do their own authentication and CSRF check)."""

    def __init__(self, user):
        self.user, self.factory = user, RequestFactory()

    def _call(self, request):
        request.user = self.user
        request._dont_enforce_csrf_checks = True
        match = resolve(request.path)
        return match.func(request, *match.args, **match.kwargs)

    def post(self, path, body: bytes, content_type: str):
        return self._call(self.factory.post(path, body, content_type=content_type))

    def get(self, path, query: dict):
        return self._call(self.factory.get(path, query))


@pytest.fixture
def api(make_user):
    return Api(make_user("ada", "start_run", "view_workflowrun", "resolve_requirement", "view_requirement"))


def _json_answer(response) -> None:
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    json.loads(response.content)


workflow_names = st.one_of(st.sampled_from(["data_export", "trip_planner", "blog_post"]), texts).map(json.dumps)
start_bodies = st.one_of(
    json_object({"workflow": workflow_names, "input": json_values, "additional_data": json_values}).map(str.encode),
    garbage_bodies,
)


def test_run_start(api):
    seen = []

    @FUZZ
    @given(body=start_bodies)
    def check(body):
        seen.append(body)
        before = WorkflowRun.objects.count()
        with rolled_back():
            response = api.post(reverse("workflows:api-runs"), body, content_type="application/json")
            _json_answer(response)
            if response.status_code >= 400:
                assert WorkflowRun.objects.count() == before
            else:
                assert response.status_code == 201
                run = WorkflowRun.objects.get(id=json.loads(response.content)["id"])
                assert_storable(run.input, run.additional_data)

    check()
    assert len(seen) >= EXAMPLES


FIELD_NAMES = ("city", "days", "budget", "pace", "amount", "customer")
routes = st.lists(st.one_of(st.sampled_from(["quick", "deep", "expert"]).map(json.dumps), json_values), max_size=3)


@st.composite
def resolve_bodies(draw, kind: str) -> bytes:
    """Mostly a decision the kind takes, with the current version and the fields its action reads
    (so the odd values reach the checks behind the first ones), sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(garbage_bodies)
    action = draw(st.one_of(*[st.sampled_from(ACTIONS[kind])] * 3, st.sampled_from(ALL_ACTIONS), texts))
    data = {
        "reject": {"feedback": st.one_of(texts.map(json.dumps), json_values)},
        "submit": {"values": st.one_of(*[json_object(dict.fromkeys(FIELD_NAMES, json_values))] * 3, json_values)},
        "edit": {"output": json_values},
        "select": {"choices": st.one_of(routes.map(lambda items: "[" + ",".join(items) + "]"), json_values)},
        "provide_result": {"result": json_values},
    }.get(action, {"note": json_values})
    fields = {
        "action": st.just(json.dumps(action)),
        "version": st.one_of(st.just("1"), st.just("1"), json_numbers, json_values),
        "data": st.one_of(*[st.fixed_dictionaries(data).map(object_text)] * 3, json_object(data), json_values),
    }
    return draw(json_object(fields) if draw(st.booleans()) else st.fixed_dictionaries(fields).map(object_text)).encode()


def test_requirement_resolve_every_kind_and_action(api):
    pending = pending_of_every_kind()
    seen = []

    @FUZZ
    @given(data=st.data())
    def check(data):
        kind = data.draw(st.sampled_from(sorted(pending)))
        body = data.draw(resolve_bodies(kind))
        seen.append(body)
        req = pending[kind]
        before = snapshot(req)
        with rolled_back():
            url = reverse("workflows:api-requirement-resolve", args=[req.id])
            response = api.post(url, body, content_type="application/json")
            _json_answer(response)
            if response.status_code >= 400:
                assert snapshot(req) == before
                assert not Decision.objects.filter(requirement_id=req.id).exists()
            else:
                assert response.status_code == 200
                assert_storable(Requirement.objects.get(id=req.id).resolution)

    check()
    assert len(seen) >= EXAMPLES


query_values = st.one_of(
    st.sampled_from(["PENDING", "RESOLVED", "EXPIRED", "CANCELLED", "", "0", "-1", "200", "201", "1e3"]),
    st.integers().map(str),
    st.sampled_from(["9" * 30, "9223372036854775808", "9" * 5000, "data_export", "a\x00b", "\x00"]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
)
list_queries = st.dictionaries(
    st.sampled_from(["status", "run", "workflow", "limit", "offset", "unknown"]), query_values, max_size=5
)


def test_requirement_list_filters(api):
    pending_of_every_kind()
    seen = []

    @FUZZ
    @given(query=list_queries)
    def check(query):
        seen.append(query)
        response = api.get(reverse("workflows:api-requirements"), query)
        _json_answer(response)
        assert Requirement.objects.filter(status="PENDING").count() == 9

    check()
    assert len(seen) >= EXAMPLES
