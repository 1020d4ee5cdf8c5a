"""The skeleton holds together: settings, URLs, ASGI app, Celery app, database mode."""

from django.conf import settings
from django.db import connection


def test_settings_load():
    assert settings.ROOT_URLCONF == "hitl_site.urls"
    assert settings.INSTALLED_APPS[0] == "daphne"
    assert settings.HITL_EMBEDDED == (settings.CELERY_BROKER_URL == "memory://")


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log in" in response.content


def test_root_redirects_to_inbox(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


def test_asgi_application_imports():
    from hitl_site.asgi import application

    assert set(application.application_mapping) == {"http", "websocket"}


def test_celery_app_has_the_sweep_schedule():
    from hitl_site import celery_app

    assert celery_app.main == "hitl_site"
    assert celery_app.conf.beat_schedule["sweep"]["task"] == "workflows.tasks.sweep"
    assert celery_app.conf.task_acks_late is True


def test_database_is_configured_for_concurrent_writers(db):
    if connection.vendor == "sqlite":
        # WAL + IMMEDIATE: the in-process worker and requests write side by side.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        assert connection.transaction_mode == "IMMEDIATE"
    else:
        assert connection.vendor == "postgresql"
