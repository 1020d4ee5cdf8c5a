"""Outbound webhooks: queued with the change that caused them, sent afterwards, signed, retried
with growing waits after a 500 or a timeout, dead after the last attempt, one endpoint's
failures never holding up another's."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import services, signing
from notifications.models import Delivery
from workflows import registry
from workflows import services as workflow_services
from workflows.models import Requirement, WorkflowRun
from workflows.representations import requirement_json

pytestmark = pytest.mark.django_db


def paused_export() -> Requirement:
    out = registry.get("data_export").run("crm")
    return Requirement.objects.get(run_id=out.run_id, status="PENDING")


def test_a_created_requirement_is_posted_signed_with_its_delivery_id(receiver, published):
    endpoint = services.webhook_create(url=receiver.url, events=["requirement.created"])
    req = paused_export()
    delivery = Delivery.objects.get(channel="webhook")
    assert (delivery.event, delivery.status, delivery.requirement_id) == ("requirement.created", "pending", req.id)
    assert receiver.requests == []  # nothing leaves inside the transaction that made it

    assert services.deliveries_send() == 1
    (got,) = receiver.requests
    assert got.headers["X-HITL-Event"] == "requirement.created"
    assert got.headers["X-HITL-Delivery"] == str(delivery.id) == got.json["id"]
    assert got.headers["Content-Type"] == "application/json"
    assert signing.verify(endpoint.secret, got.headers["X-HITL-Signature"], got.body, now=int(time.time()))
    assert not signing.verify("whsec_other", got.headers["X-HITL-Signature"], got.body, now=int(time.time()))
    assert not signing.verify(endpoint.secret, got.headers["X-HITL-Signature"], got.body + b" ", now=int(time.time()))
    body = got.json
    assert set(body) == {"id", "event", "created_at", "data"}
    assert body["event"] == "requirement.created"
    assert body["data"]["id"] == str(req.id) and body["data"]["status"] == "PENDING"
    assert body["data"]["kind"] == requirement_json(req)["kind"] == "confirmation"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    assert services.deliveries_send() == 0  # delivered once


def test_the_signature_header_is_hmac_sha256_over_timestamp_dot_body(receiver, published):
    endpoint = services.webhook_create(url=receiver.url, events=["requirement.created"])
    paused_export()
    services.deliveries_send()
    (got,) = receiver.requests
    t, v1 = (part.split("=", 1)[1] for part in got.headers["X-HITL-Signature"].split(","))
    import hashlib
    import hmac

    assert abs(int(t) - time.time()) < 60
    assert v1 == hmac.new(endpoint.secret.encode(), f"{t}.".encode() + got.body, hashlib.sha256).hexdigest()


def test_a_rolled_back_change_queues_nothing(receiver, published):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    with pytest.raises(RuntimeError), transaction.atomic():
        paused_export()
        assert Delivery.objects.count() == 1
        raise RuntimeError("rolled back")
    assert Delivery.objects.count() == 0 and Requirement.objects.count() == 0


def test_a_500_is_retried_within_30_seconds_with_the_same_delivery_id(receiver, published):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    paused_export()
    receiver.answers = [500]
    now = timezone.now()
    assert services.deliveries_send(now=now) == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert "500" in delivery.last_error
    assert now < delivery.next_attempt_at <= now + timedelta(seconds=30)
    assert services.deliveries_send(now=now + timedelta(seconds=1)) == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    assert services.deliveries_send(now=delivery.next_attempt_at) == 1
    first, second = receiver.requests
    assert first.headers["X-HITL-Delivery"] == second.headers["X-HITL-Delivery"] == str(delivery.id)
    assert first.body == second.body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.last_error) == (
        "delivered",
        2,
        200,
        "",
    )


def test_a_timeout_is_retried_and_waits_double_each_time(receiver, published, settings):
    settings.HITL_WEBHOOK_TIMEOUT = 0.3
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    paused_export()
    receiver.answers = [("sleep", 1.0), 503]
    now = timezone.now()
    services.deliveries_send(now=now)
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and "timed out" in delivery.last_error.lower()
    assert delivery.response_code is None
    first_wait = delivery.next_attempt_at - now
    services.deliveries_send(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 2, 503)
    assert services.retry_delay(2) == 2 * services.retry_delay(1) == 2 * first_wait
    services.deliveries_send(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.requests) == 3


def test_after_the_last_attempt_a_delivery_is_dead_and_can_be_sent_again(receiver, published, settings):
    settings.HITL_DELIVERY_MAX_ATTEMPTS = 3
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    paused_export()
    receiver.default = 500
    now = timezone.now()
    for _ in range(5):  # bounded: more rounds than attempts
        services.deliveries_send(now=now)
        now += timedelta(hours=2)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert len(receiver.requests) == 3

    receiver.default = 200
    assert services.delivery_retry(delivery_id=delivery.id)
    assert services.deliveries_send() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_failing_endpoint_does_not_hold_up_another(receiver, published, settings):
    settings.HITL_WEBHOOK_TIMEOUT = 0.5
    services.webhook_create(url=receiver.url + "/good", events=["requirement.created"])
    # Nobody listens on port 9 (discard): the connection is refused.
    services.webhook_create(url="http://127.0.0.1:9/refused", events=["requirement.created"])
    paused_export()
    assert services.deliveries_send() == 1
    good = Delivery.objects.get(target=receiver.url + "/good")
    bad = Delivery.objects.get(target="http://127.0.0.1:9/refused")
    assert good.status == "delivered"
    assert bad.status == "pending" and bad.last_error


def test_an_endpoint_that_does_not_answer_costs_a_pass_one_timeout_not_one_per_delivery(receiver, published, settings):
    settings.HITL_WEBHOOK_TIMEOUT = 0.3
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    for _ in range(5):
        paused_export()
    receiver.answers = [("sleep", 1.0)]
    started = time.monotonic()
    assert services.deliveries_send() == 0
    assert time.monotonic() - started < 1.2  # five timeouts would be 1.5 s
    assert len(receiver.requests) == 1
    deliveries = list(Delivery.objects.all())
    assert {(d.status, d.attempts) for d in deliveries} == {("pending", 1)}  # each failed, and is retried
    assert sum("Not sent: an attempt before it" in d.last_error for d in deliveries) == 4
    assert services.deliveries_send(now=max(d.next_attempt_at for d in deliveries)) == 5


def test_what_a_pass_has_no_time_left_for_goes_back_untried(receiver, published, monkeypatch):
    """A pass never outlives its lease (another sender would post the same deliveries again):
    deliveries it has not started by its deadline are given back as they were, due at once."""
    monkeypatch.setattr(services, "_pass_budget", lambda: 0.2)
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    for _ in range(3):
        paused_export()
    receiver.answers = [("sleep", 0.4)]  # answered (200), after the budget is spent
    assert services.deliveries_send() == 1
    assert len(receiver.requests) == 1
    untried = list(Delivery.objects.filter(status="pending"))
    assert len(untried) == 2
    assert {(d.attempts, d.last_error, d.response_code) for d in untried} == {(0, "", None)}
    assert all(d.next_attempt_at <= timezone.now() for d in untried)
    assert services.deliveries_send() == 2
    assert {d.attempts for d in Delivery.objects.all()} == {1}


def test_only_subscribed_events_are_sent(receiver, published):
    services.webhook_create(url=receiver.url, events=["run.completed"])
    paused_export()
    assert Delivery.objects.filter(channel="webhook").count() == 0


def test_resolved_completed_expired_and_cancelled_are_announced(receiver, published, mailed_reviewer, sent_runs):
    services.webhook_create(
        url=receiver.url,
        events=["requirement.resolved", "requirement.expired", "run.completed", "run.cancelled"],
    )
    req = paused_export()
    workflow_services.requirement_resolve(
        requirement_id=req.id, user=mailed_reviewer, action="confirm", version=req.version
    )
    webhooks = Delivery.objects.filter(channel="webhook")
    assert list(webhooks.values_list("event", flat=True)) == ["requirement.resolved"]
    workflow_services.run_advance(run_id=req.run_id)
    assert WorkflowRun.objects.get(id=req.run_id).status == "COMPLETED"
    assert set(webhooks.values_list("event", flat=True)) == {"requirement.resolved", "run.completed"}

    expiring = paused_export()
    workflow_services.requirements_expire_due(now=expiring.timeout_at + timedelta(seconds=1))
    cancelled = paused_export()
    workflow_services.run_cancel(run_id=cancelled.run_id)

    services.deliveries_send()  # the mails to rita go to Django's test outbox
    by_event = {r.json["event"]: r.json["data"] for r in receiver.requests}
    assert set(by_event) == {"requirement.resolved", "run.completed", "requirement.expired", "run.cancelled"}
    assert by_event["requirement.resolved"]["resolution"]["action"] == "confirm"
    assert by_event["run.completed"]["id"] == str(req.run_id) and by_event["run.completed"]["status"] == "COMPLETED"
    assert by_event["requirement.expired"]["id"] == str(expiring.id)
    assert by_event["requirement.expired"]["status"] == "EXPIRED"
    assert by_event["run.cancelled"]["status"] == "CANCELLED"


def test_a_python_api_decision_is_announced_and_runs_on_without_listeners(receiver, published):
    # The Python API hands the hook the engine's requirement, not the row.
    wf = registry.get("data_export")
    quiet = wf.run("crm")
    quiet.steps_requiring_confirmation[0].confirm()
    assert wf.continue_run(quiet).status == "COMPLETED"  # nobody listens: nothing to build
    assert not Delivery.objects.filter(channel="webhook").exists()

    services.webhook_create(url=receiver.url, events=["requirement.resolved"])
    out = wf.run("crm")
    (req,) = out.steps_requiring_confirmation
    req.confirm()
    assert wf.continue_run(out).status == "COMPLETED"
    (delivery,) = Delivery.objects.filter(channel="webhook")
    assert (delivery.event, str(delivery.requirement_id)) == ("requirement.resolved", str(req.id))
    services.deliveries_send()
    (got,) = receiver.requests
    assert got.json["data"]["resolution"]["action"] == "confirm"


def test_a_failed_run_is_announced(receiver, published, temp_workflow):
    from workflows.engine import Step, Workflow

    def boom(step_input):
        raise RuntimeError("boom")

    temp_workflow(Workflow(name="test_notify_fails", steps=[Step(name="boom", executor=boom)]))
    services.webhook_create(url=receiver.url, events=["run.failed"])
    out = registry.get("test_notify_fails").run("x")
    assert WorkflowRun.objects.get(id=out.run_id).status == "ERROR"
    (delivery,) = Delivery.objects.all()
    assert (delivery.event, str(delivery.run_id)) == ("run.failed", out.run_id)
    receiver.answers = [500]
    services.deliveries_send()
    delivery.refresh_from_db()  # the run's JSON, read when first sent, is kept for the retries
    assert delivery.payload["data"]["status"] == "ERROR" and delivery.payload["data"]["error"]
    services.deliveries_send(now=delivery.next_attempt_at)
    first, second = receiver.requests
    assert first.body == second.body and first.json["data"]["id"] == out.run_id


def test_the_runs_of_a_pass_are_sent_as_the_api_shows_them_events_after_a_snapshot_included(
    receiver, published, reviewer, sent_runs
):
    from django.contrib.auth.models import AnonymousUser
    from django.core.serializers.json import DjangoJSONEncoder

    from workflows.representations import run_json

    services.webhook_create(url=receiver.url, events=["run.completed"])
    runs = []
    for _ in range(3):
        req = paused_export()
        workflow_services.requirement_resolve(
            requirement_id=req.id, user=reviewer, action="confirm", version=req.version
        )
        workflow_services.run_advance(run_id=req.run_id)
        runs.append(WorkflowRun.objects.get(id=req.run_id))
    # As a worker that died after writing its events leaves a row: a snapshot behind them.
    WorkflowRun.objects.filter(id=runs[0].id).update(state={"memo": {}, "seq": 0})
    expected = {
        str(run.id): json.loads(json.dumps(run_json(run, AnonymousUser()), cls=DjangoJSONEncoder))
        for run in WorkflowRun.objects.filter(id__in=[r.id for r in runs]).select_related("created_by")
    }
    assert expected[str(runs[0].id)]["step_results"]  # read back from the events

    assert services.deliveries_send() == 3  # one pass
    assert {r.json["data"]["id"]: r.json["data"] for r in receiver.requests} == expected


def test_a_run_deleted_before_its_event_left_is_skipped(receiver, published, mailed_reviewer, sent_runs):
    services.webhook_create(url=receiver.url, events=["run.cancelled"])
    req = paused_export()
    workflow_services.run_cancel(run_id=req.run_id)
    WorkflowRun.objects.filter(id=req.run_id).delete()
    assert services.deliveries_send() == 0
    assert receiver.requests == []
    assert Delivery.objects.get(event="run.cancelled").status == "skipped"


def test_deliveries_are_published_after_commit_only(receiver, published, django_capture_on_commit_callbacks):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        paused_export()
    assert published == []
    for callback in callbacks:
        callback()
    assert published == [[str(Delivery.objects.get().id)]]


def test_the_sweep_sends_due_deliveries(receiver, published):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    paused_export()
    assert workflow_services.sweep()["delivered"] == 1
    assert len(receiver.requests) == 1


def test_services_mode_publishes_one_send_task_for_a_burst_and_one_after_it(monkeypatch, settings):
    import time

    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs["args"])))
    monkeypatch.setattr(services, "PUBLISH_GAP", 0.3)
    settings.HITL_EMBEDDED = False
    monkeypatch.setattr(services, "_last_publish", 0.0)
    services.publish(["a"])
    services.publish(["b"])  # within the gap: sent by a task published once the gap is over
    services.publish(["c"])  # ... the same one
    assert sent == [("notifications.tasks.send_deliveries", [["a"]])]
    # The task for "a" may have taken its deliveries before "b" and "c" were committed: one more
    # task follows the burst, so they never wait for the sweep.
    deadline = time.monotonic() + 5
    while len(sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sent == [("notifications.tasks.send_deliveries", [["a"]]), ("notifications.tasks.send_deliveries", [["b"]])]
    time.sleep(0.4)
    assert len(sent) == 2  # and only one
    monkeypatch.setattr(services, "_last_publish", 0.0)  # the gap passed
    services.publish(["d"])
    assert len(sent) == 3
    settings.HITL_EMBEDDED = True
    services.publish(["e"])  # embedded mode: the in-process sweeper sends them
    assert len(sent) == 3


def test_a_run_end_builds_the_rows_its_deliveries_would_have_as_models(receiver, published):
    endpoint = services.webhook_create(url=receiver.url, events=["run.completed"])
    run_id = uuid.uuid4()
    (row,) = services._run_rows(run_id, WorkflowRun.Status.COMPLETED)
    now = row["created_at"]
    delivery = Delivery(
        id=row["id"],
        channel="webhook",
        event="run.completed",
        endpoint_id=endpoint.id,
        target=receiver.url,
        run_id=run_id,
        next_attempt_at=now,
        created_at=now,
    )
    delivery.payload = {"id": str(delivery.id), "event": "run.completed", "created_at": now, "data": None}
    assert [row] == services._delivery_rows([delivery])
    assert services._run_rows(run_id, WorkflowRun.Status.PAUSED) == []  # no event, no row
