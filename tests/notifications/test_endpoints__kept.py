"""PostgreSQL: a connection keeps the active webhook endpoints between changes, and hears of every
change committed, through its own connection or another."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import endpoints, services
from notifications.models import Delivery, WebhookEndpoint
from workflows import services as workflow_services

from .test_store__run_end_hot_path import decided_run

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql"


def urls() -> list[str]:
    return [url for _, url, _ in endpoints.active()]


def urls_once_told(expected: list[str]) -> list[str]:
    """The endpoints, once the notification of a change made elsewhere has made its way here (it
    comes from the database by itself: moments, never a query)."""
    deadline = time.monotonic() + 5
    while (seen := urls()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


def in_another_connection(change) -> None:
    def work():
        try:
            change()
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_the_endpoints_are_read_once_until_one_changes():
    assert urls() == []
    with CaptureQueriesContext(connection) as queries:
        assert urls() == []
    assert queries.captured_queries == []
    services.webhook_create(url="http://127.0.0.1:9/a", events=["run.completed"])
    assert urls() == ["http://127.0.0.1:9/a"]


def test_a_change_committed_through_another_connection_is_seen():
    endpoint = services.webhook_create(url="http://127.0.0.1:9/a", events=["run.completed"])
    assert urls() == ["http://127.0.0.1:9/a"]

    def deactivate():
        endpoint.is_active = False
        endpoint.save()

    in_another_connection(deactivate)
    assert urls_once_told([]) == []
    in_another_connection(lambda: services.webhook_create(url="http://127.0.0.1:9/b", events=["run.failed"]))
    assert urls_once_told(["http://127.0.0.1:9/b"]) == ["http://127.0.0.1:9/b"]
    with CaptureQueriesContext(connection) as queries:
        assert urls() == ["http://127.0.0.1:9/b"]
    assert queries.captured_queries == []  # kept again
    in_another_connection(lambda: WebhookEndpoint.objects.all().delete())
    assert urls_once_told([]) == []


def test_inside_a_transaction_the_table_is_read_and_a_rolled_back_change_is_not_kept():
    assert urls() == []

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        services.webhook_create(url="http://127.0.0.1:9/a", events=["run.completed"])
        assert urls() == ["http://127.0.0.1:9/a"]
        raise Undo
    assert urls() == []


def test_an_endpoint_added_after_a_run_end_hears_of_the_next_one(reviewer, published, sent_runs):
    first = decided_run(reviewer)
    assert workflow_services.run_advance(run_id=first.id) == "COMPLETED"  # nobody listened: kept
    assert not Delivery.objects.filter(channel="webhook").exists()
    in_another_connection(lambda: services.webhook_create(url="http://127.0.0.1:9/a", events=["run.completed"]))
    second = decided_run(reviewer)
    assert workflow_services.run_advance(run_id=second.id) == "COMPLETED"
    (delivery,) = Delivery.objects.filter(channel="webhook")
    assert delivery.run_id == second.id and delivery.target == "http://127.0.0.1:9/a"
