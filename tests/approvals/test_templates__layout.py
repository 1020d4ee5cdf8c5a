"""The base layout and the error pages."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from .conftest import pending

pytestmark = pytest.mark.django_db


def test_layout_landmarks_nav_and_logout(reviewer_client):
    pending("data_export")
    page = reviewer_client.get("/inbox/").content.decode()
    assert '<header class="site-header">' in page and '<nav class="site-nav" aria-label="Main">' in page
    assert '<main id="content"' in page
    for link in ('href="/inbox/" aria-current="page">Inbox', 'href="/runs/">Runs', 'href="/workflows/">Workflows'):
        assert link in page
    assert 'href="/admin/"' not in page  # not staff
    assert "rita" in page and ">Log out</button>" in page and 'action="/accounts/logout/"' in page
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert "django_htmx/htmx-2.min.js" in page and "django_htmx/ext/hx-ws-2.min.js" in page
    assert "site/app.css" in page
    assert "<script>" not in page and "<style" not in page and " style=" not in page  # no inline scripts or styles


def test_debug_mode_loads_no_script_that_handles_error_answers_by_itself(reviewer_client, settings):
    """django-htmx's debug script swaps 4xx answers in itself and evaluates them (refused by the
    CSP): under `make run` (DEBUG) a form's 400 page broke instead of showing its errors."""
    settings.DEBUG = True
    page = reviewer_client.get("/inbox/").content.decode()
    assert "django_htmx/htmx-2.min.js" in page
    assert "django-htmx.js" not in page


def test_staff_see_the_admin_link(client, make_user):
    client.force_login(make_user("sam", staff=True))
    assert 'href="/admin/">Admin</a>' in client.get("/inbox/").content.decode()


def test_messages_are_shown(reviewer_client, sent_runs, django_capture_on_commit_callbacks):
    req = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        response = reviewer_client.post(f"/inbox/{req.id}/", {"action": "confirm", "version": req.version}, follow=True)
    assert 'class="message message--success"' in response.content.decode()


def test_logout_is_a_post(reviewer_client):
    response = reviewer_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert reviewer_client.get("/inbox/").status_code == 302


def test_login_page(client):
    page = client.get("/accounts/login/").content.decode()
    assert ">Username</label>" in page and ">Password</label>" in page and ">Log in</button>" in page
    assert "Log out" not in page


def test_500_renders_without_context():
    html = render_to_string("500.html")
    assert "Something went wrong" in html and "site/app.css" in html


def test_404_and_403_pages(client, db):
    request = RequestFactory().get("/nowhere/")
    assert "Not found" in render_to_string("404.html", request=request)
    assert "Not allowed" in render_to_string("403.html", request=request)
    response = client.get("/inbox/not-a-uuid/")
    assert response.status_code == 404
