"""/api/v1/openapi.json: a hand-written OpenAPI 3.1 document that matches the routes."""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def api_paths() -> set[str]:
    """The API's routes as OpenAPI paths (``runs/<str:run_id>`` -> ``/runs/{run_id}``)."""
    from approvals.api_urls import urlpatterns as approvals_patterns
    from workflows.web.urls import api_patterns

    paths = set()
    for pattern in [*api_patterns, *approvals_patterns]:
        route = str(pattern.pattern)
        if route.startswith("^") or route == "openapi.json":
            continue  # the catch-all 404 and the schema itself
        paths.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    from notifications.urls import urlpatterns as notification_patterns  # /api/v1/webhooks

    for pattern in notification_patterns:
        if not str(pattern.pattern).startswith("api/v1/"):
            continue
        route = str(pattern.pattern).removeprefix("api/v1/")
        paths.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return paths


def test_schema_is_served_without_auth(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    schema = response.json()
    assert schema["openapi"] == "3.1.0"
    assert schema["info"]["title"]


def test_schema_describes_every_route(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == api_paths()
    assert "/api/v1/" in {server["url"] + "/" for server in schema["servers"]}
    get_resolver()  # the URLconf loads


def test_schema_declares_both_auth_schemes_and_the_error_codes(client):
    schema = client.get("/api/v1/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionAuth"]["in"] == "cookie"
    resolve = schema["paths"]["/requirements/{requirement_id}/resolve"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(resolve["responses"])
    start = schema["paths"]["/runs"]["post"]
    assert {"201", "400", "401", "403", "413"} <= set(start["responses"])
    decision = schema["components"]["schemas"]["Decision"]["properties"]["action"]["enum"]
    assert set(decision) == {"confirm", "reject", "submit", "edit", "select", "retry", "skip", "provide_result"}


def test_every_reference_resolves(client):
    schema = client.get("/api/v1/openapi.json").json()
    refs = re.findall(r"#/components/(\w+)/(\w+)", str(schema))
    assert {kind for kind, _name in refs} == {"schemas", "responses"}
    for kind, name in refs:
        assert name in schema["components"][kind], name
