"""Embedded mode's in-process worker and sweeper, and the promise of both modes: a request that
starts a run never waits for its steps."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from hitl_site.celery import app as celery_app
from tests.services.conftest import services_mode, wait_for
from workflows import registry, services
from workflows.models import Requirement, WorkflowRun
from workflows.runtime import dispatch, worker
from workflows.web.tokens import token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process_worker(settings):
    """The in-process worker, started here as the web server starts it, whatever the mode."""
    settings.HITL_SWEEP_SECONDS = 0.1
    # The browser tests' forked server sweeps this database too, and its worker does not know the
    # workflows registered here after the fork: a continuation it takes is left for a resend, which
    # must come before the tests give up.
    settings.HITL_REQUEUE_SECONDS = 0.5
    assert not worker.running()
    previous = dispatch.set_backend(worker.submit)
    worker.start()
    yield
    worker.stop()
    dispatch.set_backend(previous)


def test_the_worker_runs_runs_in_the_background(in_process_worker, probe):
    began = time.monotonic()
    run = services.run_start(workflow_name="test_svc_sleepy", input="in", additional_data=probe.extra(sleep=1))
    assert time.monotonic() - began < 0.5 and probe.ends("nap") == 0  # returned while the step sleeps
    wait_for(lambda: WorkflowRun.objects.get(id=run.id).status == "COMPLETED", timeout=15, what="the run")
    assert probe.ends("nap") == 1
    assert {t.name for t in threading.enumerate()} >= {"hitl-worker-0", "hitl-worker-1", "hitl-sweeper"}


def test_the_sweeper_fires_timeouts_by_itself(in_process_worker, probe):
    out = registry.get("test_svc_timed").run("in", additional_data=probe.extra())
    Requirement.objects.filter(run_id=out.run_id).update(timeout_at=timezone.now() + timedelta(seconds=0.3))
    wait_for(lambda: WorkflowRun.objects.get(id=out.run_id).status == "COMPLETED", timeout=15, what="the timeout")
    req = Requirement.objects.get(run_id=out.run_id)
    assert req.status == "EXPIRED" and req.resolved_by_name == "system"
    assert probe.ends("b") == 0 and probe.ends("c") == 1  # on_timeout=skip


def test_start_and_stop(settings):
    settings.HITL_EMBEDDED_WORKERS = 3
    assert not worker.running()
    try:
        assert worker.start() is True
        assert worker.start() is False  # once per process
        assert worker.running()
        names = {t.name for t in threading.enumerate()}
        assert {"hitl-worker-0", "hitl-worker-1", "hitl-worker-2", "hitl-sweeper"} <= names
    finally:
        worker.stop()
    assert not worker.running()
    assert not {t.name for t in threading.enumerate() if t.name.startswith("hitl-worker") or t.name == "hitl-sweeper"}


def test_without_a_worker_in_this_process_submit_runs_the_run_here(probe):
    run = services.run_start(workflow_name="test_svc_gated", input="in", additional_data=probe.extra())
    assert not worker.running()
    worker.submit(run.id)  # a management command, a shell: no web server, no threads
    assert WorkflowRun.objects.get(id=run.id).status == "PAUSED"


def test_the_asgi_wrapper_starts_the_worker_in_the_serving_process():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["type"])

    wrapped = worker.serving(app)
    try:
        asyncio.run(wrapped({"type": "http"}, None, None))
        assert worker.running() and calls == ["http"]
        asyncio.run(wrapped({"type": "http"}, None, None))  # started once
        assert calls == ["http", "http"]
    finally:
        worker.stop()


def test_a_post_that_starts_a_run_returns_before_the_step_runs(asgi_live_server, request, probe, make_user):
    """Through the real server: daphne in a forked process, the in-process worker (embedded) or
    Celery workers (services) executing the run. The step sleeps 1 s; the POST does not wait."""
    if services_mode():  # the forked server sends to the settings' queue: a worker there
        celery = request.getfixturevalue("celery")
        celery_app.control.purge()  # what earlier tests sent there without a worker
        celery.worker("live", env={"CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE})
    _, token = token_create(user=make_user("olga", "start_run"))

    def call(path: str, body: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(
            asgi_live_server + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())

    body = {"workflow": "test_svc_sleepy", "input": "in", "additional_data": probe.extra(sleep=1)}
    began = time.monotonic()
    code, created = call("/api/v1/runs", body)
    elapsed = time.monotonic() - began
    assert code == 201, created
    assert elapsed < 0.8, f"the POST took {elapsed:.2f}s: it waited for the step"

    def completed():
        return call(f"/api/v1/runs/{created['id']}")[1]["status"] == "COMPLETED"

    wait_for(completed, timeout=20, interval=0.2, what="the server's worker to run it")
    assert probe.ends("nap") == 1
