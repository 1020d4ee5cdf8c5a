"""With DEBUG on (`make run`), a 404 is the app's own page, not Django's list of every URL."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_client(settings, outsider):
    settings.DEBUG = True
    client = Client()  # loads the middleware with DEBUG on
    client.force_login(outsider)
    return client


def assert_own_404(response):
    assert response.status_code == 404
    text = response.text
    assert "There is nothing here, or it is not yours to see." in text
    assert "URLconf" not in text and "hitl_site.urls" not in text and "api/v1/" not in text


def test_an_unknown_path_gets_the_apps_404_page(debug_client):
    assert_own_404(debug_client.get("/no-such-page/"))


def test_a_views_404_gets_the_apps_404_page(debug_client):
    assert_own_404(debug_client.get(f"/runs/{uuid.uuid4()}/"))
    assert_own_404(debug_client.get(f"/inbox/{uuid.uuid4()}/"))


def test_the_apis_json_404_passes_through(debug_client):
    response = debug_client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_missing_slash_still_redirects(debug_client):
    response = debug_client.get("/inbox")
    assert response.status_code == 301
    assert response["Location"] == "/inbox/"


def test_with_debug_off_the_same_page(client, outsider):
    client.force_login(outsider)
    assert_own_404(client.get("/no-such-page/"))
