"""Bad JSON gets a clear 400 from the API and changes nothing: lone surrogates, NUL, numbers
that overflow to infinity, NaN/Infinity, nesting deeper than the limit (or than Python's parser
can go), and list offsets past 64-bit integers. On PostgreSQL NUL and lone surrogates used to
fail at the write (DataError 500); on SQLite they were stored and broke every page."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from workflows import registry
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db

DEEP = "[" * 50_000 + "]" * 50_000
# JSON texts (as sent) that must be refused wherever a value goes.
BAD_VALUES = {
    "lone_surrogate": '"a\\ud800b"',
    "lone_low_surrogate": '["\\udc00"]',
    "nul": '"a\\u0000b"',
    "overflow": "1e400",
    "negative_overflow": "[-1e400]",
    "nan": "NaN",
    "infinity": '{"x": Infinity}',
    "too_deep": "[" * 65 + "]" * 65,
    "deeper_than_the_parser": DEEP,
    "surrogate_key": '{"\\ud800": 1}',
    "nul_key": '{"a\\u0000": 1}',
}


@pytest.fixture
def api(client, make_user):
    client.force_login(make_user("ada", "start_run", "view_workflowrun", "resolve_requirement", "cancel_run"))
    return client


def post(client, url, raw: str):
    return client.post(url, raw, content_type="application/json")


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
@pytest.mark.parametrize("field", ["input", "additional_data"])
def test_a_run_start_with_bad_json_is_refused(api, field, value):
    if field == "additional_data":
        value = f'{{"note": {value}}}'
    response = post(api, reverse("workflows:api-runs"), f'{{"workflow": "data_export", "{field}": {value}}}')
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"]
    assert not WorkflowRun.objects.exists()


DECISIONS = [  # (workflow, action, data template with {v} standing for the bad value)
    ("data_export", "reject", '{{"feedback": {v}}}'),
    ("trip_planner", "submit", '{{"values": {{"city": {v}, "days": 2}}}}'),
    ("trip_planner", "submit", '{{"values": {{"city": "Rome", "days": {v}}}}}'),
    ("blog_post", "edit", '{{"output": {v}}}'),
    ("research_router", "select", '{{"choices": [{v}]}}'),
    ("support_agent", "provide_result", '{{"result": {v}}}'),
    ("copy_refiner", "reject", '{{"feedback": {v}}}'),
]


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
@pytest.mark.parametrize(("workflow", "action", "data"), DECISIONS, ids=lambda d: str(d)[:24])
def test_a_decision_with_bad_json_is_refused(api, workflow, action, data, value):
    run_id = registry.get(workflow).run("x").run_id
    req = Requirement.objects.get(run_id=run_id, status="PENDING")
    body = f'{{"action": "{action}", "version": {req.version}, "data": {data.format(v=value)}}}'
    response = post(api, reverse("workflows:api-requirement-resolve", args=[req.id]), body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"]
    after = Requirement.objects.get(id=req.id)
    assert (after.status, after.version, after.resolution) == ("PENDING", req.version, None)


def test_a_message_names_the_problem(api):
    cases = {
        '{"workflow": "data_export", "input": "\\u0000"}': "NUL",
        '{"workflow": "data_export", "input": "\\ud800"}': "surrogate",
        '{"workflow": "data_export", "input": 1e400}': "finite",
        '{"workflow": "data_export", "input": NaN}': "NaN",
        f'{{"workflow": "data_export", "input": {DEEP}}}': "Nested too deeply",
    }
    for body, words in cases.items():
        errors = post(api, reverse("workflows:api-runs"), body).json()["errors"]
        assert words in json.dumps(errors), (body[:60], errors)


def test_a_good_value_at_the_depth_limit_is_accepted(api):
    value = "[" * 60 + "1" + "]" * 60
    response = post(api, reverse("workflows:api-runs"), f'{{"workflow": "data_export", "input": {value}}}')
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("offset", ["99999999999999999999999", "9223372036854775808", "-1", "1e3", "9" * 5000])
def test_list_offsets_past_the_limit_are_refused(api, offset):
    response = api.get(reverse("workflows:api-requirements"), {"offset": offset})
    assert response.status_code == 400
    assert "offset" in response.json()["errors"]


def test_errors_outside_the_views_are_json_under_the_api(api, monkeypatch, settings):
    settings.DEBUG = False

    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("workflows.web.api.selectors.requirements_visible_to", fail)
    api.raise_request_exception = False
    response = api.get(reverse("workflows:api-requirements"))
    assert response.status_code == 500
    assert response.json() == {"error": "Internal error.", "code": "server_error"}
    # Too many fields: Django refuses the request before the view (SuspiciousOperation, 400).
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join(f"f{i}=1" for i in range(10))
    response = api.get(f"{reverse('workflows:api-requirements')}?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    page = api.get(f"{reverse('approvals:inbox')}?{query}")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("workflow", ["a\x00b", "\x00"])
def test_a_list_filter_with_a_nul_character_is_refused(api, workflow):
    response = api.get(reverse("workflows:api-requirements"), {"workflow": workflow})
    assert response.status_code == 400
    assert "Null characters" in response.json()["errors"]["workflow"]
