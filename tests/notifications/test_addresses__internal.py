"""Webhooks and chat messages do not go into the site's own network (server-side request
forgery): internal addresses are refused when registered and when a connection is opened,
unless HITL_WEBHOOK_ALLOW_PRIVATE is on; credentials in URLs are refused always."""

from __future__ import annotations

import pytest

from notifications import posting, services
from notifications.forms import PreferenceForm
from notifications.models import WebhookEndpoint
from workflows.engine.errors import ValidationError

pytestmark = pytest.mark.django_db

INTERNAL = [
    "http://127.0.0.1:8031/api/v1/runs",
    "http://localhost/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
]


@pytest.fixture
def private_refused(settings):
    settings.HITL_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_endpoint_is_refused(private_refused, url):
    with pytest.raises(ValidationError) as refused:
        services.webhook_create(url=url, events=["requirement.created"])
    assert "internal address" in str(refused.value)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["http://user:pw@example.com/", "https://example.com:99999/"])
def test_credentials_and_bad_ports_are_refused_always(settings, url):
    settings.HITL_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError):
        services.webhook_create(url=url, events=["requirement.created"])


def test_public_addresses_and_names_are_taken(private_refused):
    for url in ("https://hooks.example.com/x", "http://93.184.216.34/hook"):
        services.webhook_create(url=url, events=["requirement.created"])
    assert WebhookEndpoint.objects.count() == 2


def test_a_chat_webhook_url_is_checked_the_same(private_refused):
    form = PreferenceForm({"email": "on", "chat": "on", "chat_webhook_url": "http://10.1.2.3/hook"})
    assert not form.is_valid() and "internal address" in form.errors["chat_webhook_url"][0]


def test_a_name_that_resolves_inside_is_not_connected_to(private_refused, receiver):
    # "localhost" passes no registration here (names are checked when connecting): posting refuses.
    url = receiver.url.replace("127.0.0.1", "localhost")
    code, error = posting.post(url, b"{}", {}, timeout=2, proxies={})
    assert code is None and "resolves to an internal address" in error
    assert receiver.requests == []


def test_allowed_for_local_receivers(settings, receiver):
    settings.HITL_WEBHOOK_ALLOW_PRIVATE = True
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    assert posting.post(receiver.url, b"{}", {}, timeout=2, proxies={}) == (200, "")
