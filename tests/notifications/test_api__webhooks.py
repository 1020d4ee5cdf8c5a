"""/api/v1/webhooks: register (the secret shown once), list, remove; workflows.manage_webhooks only."""

from __future__ import annotations

import pytest

from notifications.models import WebhookEndpoint
from workflows.models import ApiToken
from workflows.web.tokens import token_digest, token_new

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_admin(make_user):
    """May manage webhooks, nothing else."""
    return make_user("wanda", "manage_webhooks")


@pytest.fixture
def webhook_admin_client(client, webhook_admin):
    client.force_login(webhook_admin)
    return client


def bearer(user) -> dict:
    token = token_new()
    ApiToken.objects.create(user=user, digest=token_digest(token))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_register_list_and_remove(client, webhook_admin):
    auth = bearer(webhook_admin)
    created = client.post(
        "/api/v1/webhooks",
        {"url": "https://example.com/hook", "events": ["requirement.created", "run.completed"]},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"id", "url", "events", "secret"}
    assert body["url"] == "https://example.com/hook"
    assert body["events"] == ["requirement.created", "run.completed"]
    endpoint = WebhookEndpoint.objects.get(id=body["id"])
    assert body["secret"] == endpoint.secret and len(endpoint.secret) > 30
    assert created["Location"] == f"/api/v1/webhooks/{body['id']}"

    listed = client.get("/api/v1/webhooks", **auth).json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]  # shown once only
    assert "secret" not in client.get(f"/api/v1/webhooks/{body['id']}", **auth).json()

    assert client.delete(f"/api/v1/webhooks/{body['id']}", **auth).status_code == 204
    assert not WebhookEndpoint.objects.exists()
    again = client.delete(f"/api/v1/webhooks/{body['id']}", **auth)
    assert again.status_code == 404 and again.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["run.completed"]}, "url"),
        ({"url": "not a url", "events": ["run.completed"]}, "url"),
        ({"events": ["run.completed"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": "run.completed"}, "events"),
        ({"url": "https://example.com/x", "events": ["run.exploded"]}, "events"),
        ({"url": "https://example.com/x", "events": ["run.completed"], "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_400_and_registers_nothing(webhook_admin_client, body, field):
    response = webhook_admin_client.post("/api/v1/webhooks", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_malformed_json_is_a_400(webhook_admin_client):
    response = webhook_admin_client.post("/api/v1/webhooks", "{nope", content_type="application/json")
    assert response.status_code == 400


def test_without_the_permission_it_is_a_403(client, make_user):
    user = make_user("rita", "resolve_requirement")
    auth = bearer(user)
    assert client.get("/api/v1/webhooks", **auth).status_code == 403
    response = client.post(
        "/api/v1/webhooks",
        {"url": "https://example.com/x", "events": ["run.completed"]},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert not WebhookEndpoint.objects.exists()


def test_anonymous_is_a_401_and_unknown_ids_are_404(webhook_admin_client):
    from django.test import Client

    assert Client().get("/api/v1/webhooks").status_code == 401
    assert webhook_admin_client.get("/api/v1/webhooks/not-a-uuid").status_code == 404
    assert webhook_admin_client.delete("/api/v1/webhooks/00000000-0000-0000-0000-000000000000").status_code == 404
    assert webhook_admin_client.put("/api/v1/webhooks").status_code == 405


def test_session_posts_need_the_csrf_token(webhook_admin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(webhook_admin)
    response = client.post(
        "/api/v1/webhooks",
        {"url": "https://example.com/x", "events": ["run.completed"]},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["code"] == "csrf_failed"


def test_the_openapi_events_are_the_ones_sent(client):
    from notifications.models import EVENTS

    schema = client.get("/api/v1/openapi.json").json()
    enum = schema["components"]["schemas"]["WebhookCreate"]["properties"]["events"]["items"]["enum"]
    assert enum == list(EVENTS)
