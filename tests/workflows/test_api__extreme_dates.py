"""Dates at the ends of the calendar in filters: a clear 400 naming the field, never a 500 or a
response that never comes (a streamed export used to fail after its headers were due), and no
period so long that one GET keeps the server busy."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db

EDGES = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize(
    "path", ["/api/v1/runs", "/api/v1/runs/export?format=json", "/api/v1/decisions/export?format=csv"]
)
def test_run_and_decision_filters(admin_client, path, field, value):
    response = admin_client.get(path, {field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_forged_cursor_at_the_end_of_time(admin_client):
    cursor = base64.urlsafe_b64encode(b"9999-12-31T23:59:59-01:00|" + b"0" * 32).decode().rstrip("=")
    response = admin_client.get("/api/v1/runs", {"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["errors"]


@pytest.mark.parametrize("params", [{"since": "9999-12-31"}, {"until": "9999-12-31"}, {"until": "0001-01-01"}])
def test_analytics(admin_client, params):
    response = admin_client.get("/api/v1/analytics", params)
    assert response.status_code == 400 and set(params) <= set(response.json()["errors"])
    assert admin_client.get("/analytics/", params).status_code == 400
    assert admin_client.get("/analytics/", {**params, "format": "csv"}).status_code == 400


def test_analytics_from_long_ago_until_today_is_too_long(admin_client):
    response = admin_client.get("/api/v1/analytics", {"since": "1001-01-01"})
    assert response.status_code == 400 and "days at a time" in response.json()["errors"]["since"]


def test_the_run_list_page(admin_client):
    response = admin_client.get("/runs/", {"created_to": "9999-12-31"})
    assert response.status_code in (200, 400)  # the page shows the form's error
    assert "Must be between the years" in response.content.decode()
