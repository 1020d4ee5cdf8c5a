"""API authentication: bearer tokens and sessions, CSRF, the token command, JSON errors."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from workflows.models import ApiToken
from workflows.web.tokens import token_create, token_digest

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/v1/runs/00000000-0000-0000-0000-000000000000"),
    ("post", "/api/v1/runs"),
    ("post", "/api/v1/runs/00000000-0000-0000-0000-000000000000/cancel"),
    ("get", "/api/v1/requirements"),
    ("get", "/api/v1/requirements/00000000-0000-0000-0000-000000000000"),
    ("post", "/api/v1/requirements/00000000-0000-0000-0000-000000000000/resolve"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_needs_authentication(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer ", "Token abc", "Basic dXNlcjpwdw==", "Bearer " + "x" * 5000]
)
def test_bad_or_unknown_tokens_are_401(client, operator, header):
    token_create(user=operator)
    response = client.get("/api/v1/requirements", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["code"] in {"invalid_token", "bad_authorization_header"}


def test_a_token_authenticates_its_user_and_is_stored_as_a_digest(client, reviewer):
    row, token = token_create(user=reviewer)
    assert row.digest == token_digest(token) != token
    assert not ApiToken.objects.filter(digest=token).exists()
    response = client.get("/api/v1/requirements", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_an_inactive_users_token_is_refused(client, reviewer):
    _, token = token_create(user=reviewer)
    reviewer.is_active = False
    reviewer.save()
    response = client.get("/api/v1/requirements", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_session_requests_work_and_their_posts_need_csrf(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get("/api/v1/requirements").status_code == 200
    body = json.dumps({"workflow": "data_export", "input": "x"})
    refused = client.post("/api/v1/runs", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    client.get("/workflows/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/runs", body, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_a_session_form_post_is_a_400_not_a_500(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    client.get("/workflows/")
    token = client.cookies["csrftoken"].value
    response = client.post("/api/v1/runs", {"workflow": "data_export", "csrfmiddlewaretoken": token})  # multipart
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_token_posts_are_exempt_from_csrf(operator):
    client = Client(enforce_csrf_checks=True)
    _, token = token_create(user=operator)
    response = client.post(
        "/api/v1/runs",
        json.dumps({"workflow": "data_export", "input": "x"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


def test_a_token_wins_over_the_session(client, operator, outsider):
    _, token = token_create(user=outsider)
    client.force_login(operator)
    response = client.post(
        "/api/v1/runs",
        json.dumps({"workflow": "data_export"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403  # the outsider may not start runs


def test_create_api_token_command_prints_a_working_token(client, reviewer):
    out = StringIO()
    call_command("create_api_token", "rita", stdout=out)
    token = out.getvalue().strip()
    assert ApiToken.objects.get(user=reviewer).digest == token_digest(token)
    assert client.get("/api/v1/requirements", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_api_token_command_refuses_unknown_users():
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_wrong_method_is_405_with_allow(client, operator):
    client.force_login(operator)
    response = client.put("/api/v1/runs")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST, HEAD"
    response = client.delete("/api/v1/requirements")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_unknown_api_paths_are_json_404s(client, operator):
    client.force_login(operator)
    for url in ("/api/v1/nope", "/api/v1/runs/", "/api/v1/requirements/x/y/z"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
