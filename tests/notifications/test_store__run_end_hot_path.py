"""PostgreSQL: the end of a decided run is written in one statement, with the deliveries of
the webhooks that listen to the end of runs inside that same statement."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import services
from notifications.models import Delivery
from workflows import registry
from workflows import services as workflow_services
from workflows.models import Requirement, WorkflowRun

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql"


def decided_run(user) -> WorkflowRun:
    out = registry.get("data_export").run("crm")
    req = Requirement.objects.get(run_id=out.run_id)
    workflow_services.requirement_resolve(requirement_id=req.id, user=user, action="confirm", version=req.version)
    return WorkflowRun.objects.get(id=out.run_id)


def test_a_run_end_with_a_listener_writes_its_delivery_in_the_same_statement(
    mailed_reviewer, published, sent_runs, receiver
):
    services.webhook_create(url=receiver.url, events=["run.completed"])
    run = decided_run(mailed_reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
    finish = queries.captured_queries[-1]["sql"]
    assert "UPDATE" in finish and "notifications_delivery" in finish and "jsonb_populate_recordset" in finish
    (delivery,) = Delivery.objects.filter(event="run.completed")
    assert delivery.run_id == run.id and delivery.status == "pending"
    assert published[-1] == [str(delivery.id)]
    assert services.deliveries_send() == 1
    (got,) = receiver.requests
    assert got.json["data"]["id"] == str(run.id) and got.json["data"]["status"] == "COMPLETED"


def test_a_run_end_that_lost_its_lease_writes_no_delivery(mailed_reviewer, published, sent_runs):
    from workflows.store import DjangoStore, LeaseLost

    services.webhook_create(url="http://127.0.0.1:9/hook", events=["run.completed"])
    run = decided_run(mailed_reviewer)
    store = DjangoStore()
    state = store.claim(str(run.id), now=run.updated_at)
    WorkflowRun.objects.filter(id=run.id).update(version=state.version + 5)  # handed to another worker
    state.status = "COMPLETED"
    with pytest.raises(LeaseLost):
        store.finish(state)
    assert not Delivery.objects.filter(event="run.completed").exists()


def test_without_a_listener_nothing_is_added(mailed_reviewer, published, sent_runs):
    services.webhook_create(url="http://127.0.0.1:9/hook", events=["requirement.created"])
    run = decided_run(mailed_reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
    finish = queries.captured_queries[-1]["sql"]
    assert "UPDATE" in finish and "notifications_delivery" not in finish
    assert not Delivery.objects.filter(event="run.completed").exists()


@pytest.fixture
def published_visible(monkeypatch):
    """Each publish of delivery ids, with the rows another connection sees at that moment: a
    worker may take the send task at once, so they must have committed."""
    from django.db import connections

    calls = []

    def publish(ids):
        other = connections.create_connection("default")  # a connection of its own
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT id::text FROM notifications_delivery WHERE id::text = ANY(%s)", [list(ids)])
                calls.append((sorted(ids), sorted(row[0] for row in cursor.fetchall())))
        finally:
            other.close()

    monkeypatch.setattr(services, "publish", publish)
    return calls


def test_the_send_task_of_a_run_end_is_published_after_its_commit(mailed_reviewer, sent_runs, published_visible):
    services.webhook_create(url="http://127.0.0.1:9/hook", events=["run.completed"])
    run = decided_run(mailed_reviewer)
    assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
    (delivery,) = Delivery.objects.filter(event="run.completed")
    published = [ids for ids, _ in published_visible]
    assert [str(delivery.id)] in published
    for ids, visible in published_visible:  # every published id was there for a worker to take
        assert visible == ids


def test_a_run_end_written_in_an_open_transaction_is_published_when_it_commits(
    mailed_reviewer, sent_runs, published_visible
):
    from django.db import transaction

    services.webhook_create(url="http://127.0.0.1:9/hook", events=["run.completed"])
    run = decided_run(mailed_reviewer)
    before = len(published_visible)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
        assert "notifications_delivery" in queries.captured_queries[-1]["sql"]  # the one-statement end
        assert len(published_visible) == before  # not yet: nothing is committed
    (delivery,) = Delivery.objects.filter(event="run.completed")
    assert published_visible[before:] == [([str(delivery.id)], [str(delivery.id)])]
