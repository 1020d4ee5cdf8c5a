"""The admin: webhook endpoints added there (the secret shown once), the delivery log read-only
with its "send again" action, preferences of people and groups."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications import services
from notifications.models import Delivery, GroupPreference, Preference, WebhookEndpoint
from workflows import registry

pytestmark = pytest.mark.django_db


def url(model, action: str, *args) -> str:
    return reverse(f"admin:notifications_{model._meta.model_name}_{action}", args=args)


def test_adding_an_endpoint_shows_its_secret_once(admin_client):
    response = admin_client.post(
        url(WebhookEndpoint, "add"),
        {"url": "https://example.com/hook", "events": ["run.completed", "requirement.created"], "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["run.completed", "requirement.created"] and endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.text and "not shown again" in response.text
    page = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))
    assert page.status_code == 200 and endpoint.secret not in page.text


def test_the_delivery_log_shows_status_attempts_error_and_code(admin_client, receiver, published):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    registry.get("data_export").run("crm")
    receiver.answers = [503]
    services.deliveries_send()
    page = admin_client.get(url(Delivery, "changelist"))
    assert page.status_code == 200
    for text in ("requirement.created", "pending", "503", "HTTP 503"):
        assert text in page.text
    delivery = Delivery.objects.get(channel="webhook")  # (the admin, a superuser, is mailed too)
    assert admin_client.get(url(Delivery, "change", delivery.pk)).status_code == 200


def test_send_again_goes_through_the_service(admin_client, receiver, published, settings):
    settings.HITL_DELIVERY_MAX_ATTEMPTS = 1
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    registry.get("data_export").run("crm")
    receiver.answers = [500]
    services.deliveries_send()
    delivery = Delivery.objects.get(channel="webhook")  # (the admin, a superuser, is mailed too)
    assert delivery.status == "dead"
    response = admin_client.post(
        url(Delivery, "changelist"), {"action": "send_again", "_selected_action": [str(delivery.pk)]}, follow=True
    )
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)


@pytest.mark.parametrize("model", [Preference, GroupPreference, WebhookEndpoint, Delivery], ids=lambda m: m.__name__)
def test_changelists_render(admin_client, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
