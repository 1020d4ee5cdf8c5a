"""A user-input form shows its fields' limits (HTML attributes, hints in words) and the decision is
refused, with the message next to the field, when a value breaks them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from .conftest import pending

pytestmark = pytest.mark.django_db


def test_the_form_shows_limits_and_types_in_words(reviewer_client):
    req = pending("trip_planner")
    page = reviewer_client.get(reverse("approvals:decide", args=[req.id])).content.decode()
    assert 'id="field-days"' in page and 'min="1" max="365"' in page
    assert 'id="field-city"' in page and 'maxlength="100"' in page
    assert "whole number</span> · from 1 to 365" in page
    assert "text</span> · at most 100 characters" in page
    assert ">int<" not in page and ">str<" not in page and ">bool<" not in page


@pytest.mark.parametrize(
    "values, field, message",
    [
        ({"value-city": "x" * 5000, "value-days": "3"}, "city", "At most 100 characters."),
        ({"value-city": "Oslo", "value-days": str(10**22)}, "days", "Must be at most 365."),
        ({"value-city": "Oslo", "value-days": "-2"}, "days", "Must be at least 1."),
    ],
)
def test_values_past_the_limits_are_refused(reviewer_client, values, field, message):
    req = pending("trip_planner")
    response = reviewer_client.post(
        reverse("approvals:decide", args=[req.id]), {"action": "submit", "version": req.version, **values}
    )
    assert response.status_code == 400
    assert f'<p class="field-error" id="field-{field}-error">{message}</p>' in response.content.decode()
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_the_api_refuses_values_past_the_limits_and_describes_them(reviewer_client):
    req = pending("trip_planner")
    response = reviewer_client.post(
        f"/api/v1/requirements/{req.id}/resolve",
        {"action": "submit", "data": {"values": {"city": "Oslo", "days": 10**22}}, "version": req.version},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"days": "Must be at most 365."}
    schema = reviewer_client.get(f"/api/v1/requirements/{req.id}").json()["payload"]["schema"]
    days = next(field for field in schema if field["name"] == "days")
    assert (days["min_value"], days["max_value"], days["max_length"], days["pattern"]) == (1, 365, None, None)
    openapi = reviewer_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert {"min_value", "max_value", "max_length", "pattern"} <= set(openapi["UserInputField"]["properties"])
    req.refresh_from_db()
    assert req.status == "PENDING"
