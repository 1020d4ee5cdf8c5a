"""PostgreSQL: the end of a decided run is written in one statement, unless a webhook listens to
the end of runs; then it takes the whole path, and the delivery is queued in its transaction."""

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


def test_a_run_end_with_a_listener_is_delivered(reviewer, published, sent_runs):
    services.webhook_create(url="http://127.0.0.1:9/hook", events=["run.completed"])
    run = decided_run(reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
    assert not any("jsonb_populate_recordset" in q["sql"] and "UPDATE" in q["sql"] for q in queries[-3:])
    (delivery,) = Delivery.objects.filter(event="run.completed")
    assert delivery.run_id == run.id and delivery.status == "pending"
    assert published[-1] == [str(delivery.id)]  # published once the end committed


def test_without_a_listener_the_end_is_one_statement(reviewer, published, sent_runs):
    services.webhook_create(url="http://127.0.0.1:9/hook", events=["requirement.created"])
    run = decided_run(reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert workflow_services.run_advance(run_id=run.id) == "COMPLETED"
    finish = queries.captured_queries[-1]["sql"]
    assert "UPDATE" in finish and "jsonb_populate_recordset" in finish
    assert not Delivery.objects.filter(event="run.completed").exists()
