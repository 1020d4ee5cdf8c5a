"""Services mode with real Celery processes on the test database: workers run the runs, beat fires
the timeouts, workers are SIGKILLed mid-step, Redis goes away during decisions."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

from approvals.models import Decision
from hitl_site.celery import app as celery_app
from tests.services.conftest import wait_for
from workflows import registry, services
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.runtime import dispatch

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def beat(celery):
    """Celery beat, sweeping every 0.5 s, for one test."""
    proc = celery.beat()
    yield proc
    celery.stop(proc)


def status(run_id) -> str:
    return WorkflowRun.objects.values_list("status", flat=True).get(id=run_id)


def wait_status(run_id, expected: str, timeout: float = 20.0, celery=None) -> None:
    try:
        wait_for(lambda: status(run_id) == expected, timeout=timeout, what=f"run {run_id} to be {expected}")
    except AssertionError:
        if celery is not None:
            print(celery.logs())
        raise


def start(probe, name="test_svc_gated", **extra) -> WorkflowRun:
    return services.run_start(workflow_name=name, input="in", additional_data=probe.extra(**extra))


def confirm(run_id, user) -> Requirement:
    req = Requirement.objects.get(run_id=run_id, status="PENDING")
    return services.requirement_resolve(requirement_id=req.id, user=user, action="confirm", version=req.version)


def test_workers_run_a_run_and_a_duplicate_delivery_changes_nothing(celery, celery_workers, probe, reviewer):
    run = start(probe)
    dispatch.send(run.id)  # the same continuation delivered twice more
    dispatch.send(run.id)
    wait_status(run.id, "PAUSED", celery=celery)
    confirm(run.id, reviewer)
    dispatch.send(run.id)
    wait_status(run.id, "COMPLETED", celery=celery)
    time.sleep(0.5)  # the duplicates are consumed by now: they did nothing
    assert [(probe.starts(s), probe.ends(s)) for s in "abc"] == [(1, 1), (1, 1), (1, 1)]
    assert StepRun.objects.filter(run_id=run.id).count() == 3
    assert RunEvent.objects.filter(run_id=run.id, event="WorkflowCompleted").count() == 1


def test_cancel_a_run_a_worker_is_executing(celery, celery_workers, probe, reviewer):
    run = start(probe, hold=["a"])
    wait_for(lambda: probe.starts("a"), timeout=20, what="step a to start in a worker")
    services.run_cancel(run_id=run.id, user=reviewer)
    assert status(run.id) == "RUNNING"  # its step goes on
    probe.release("a")
    wait_status(run.id, "CANCELLED", celery=celery)
    assert probe.ends("a") == 1 and probe.starts("b") == 0
    assert not Requirement.objects.filter(run_id=run.id).exists()


def test_beat_fires_200_due_timeouts_by_itself(celery, celery_workers, beat, probe):
    workflow = registry.get("test_svc_timed")
    runs = [workflow.run("in", additional_data=probe.extra()).run_id for _ in range(200)]
    due = timezone.now() + timedelta(seconds=1)
    Requirement.objects.filter(run_id__in=runs).update(timeout_at=due)  # 200 deadlines at once
    time.sleep(1)
    for _ in range(3):  # more sweeps at the same time, on both workers: SKIP LOCKED shares the work
        celery_app.send_task("workflows.tasks.sweep", queue=celery.queue)

    def finished():
        return WorkflowRun.objects.filter(id__in=runs, status="COMPLETED").count() == 200

    try:
        wait_for(finished, timeout=60, interval=0.2, what="200 timed-out runs to complete")
    except AssertionError:
        print(celery.logs())
        raise
    reqs = Requirement.objects.filter(run_id__in=runs)
    assert reqs.count() == 200
    assert set(reqs.values_list("status", "version", "resolved_by_name", "resolved_by")) == {
        ("EXPIRED", 2, "system", None)
    }
    assert {r["action"] for r in reqs.values_list("resolution", flat=True)} == {"timed_out"}
    assert RunEvent.objects.filter(run_id__in=runs, event="RequirementTimedOut").count() == 200
    assert StepRun.objects.filter(run_id__in=runs, name="c", status="COMPLETED").count() == 200
    assert not StepRun.objects.filter(run_id__in=runs, name="b", status="COMPLETED").exists()  # skipped
    # Each timeout is audited once, as the system.
    assert set(Decision.objects.filter(run_id__in=runs).values_list("username", "action", "user")) == {
        ("system", "timed_out", None)
    }
    assert Decision.objects.filter(run_id__in=runs).count() == 200
    assert probe.ends("c") == 200


def test_a_worker_killed_mid_step_20_times_loses_nothing_and_repeats_no_finished_step(
    celery, celery_workers, beat, make_probe, reviewer
):
    """SIGKILL the worker executing a step, 20 times over two runs, and start it again each time.

    Every step holds until the test lets it go: its first attempt is killed, the worker restarted,
    and the sweeper (beat) hands the run to a live worker once the dead one's lease (2 s) runs out.
    A step whose completion was checkpointed must never run again; s05 waits for a person, whose
    decision must survive the kills too.
    """
    slots = {proc.pid: proc for proc in celery_workers}
    steps = [f"s{i:02d}" for i in range(1, 11)]
    probes = [make_probe() for _ in range(2)]
    runs = [start(p, "test_svc_chain", hold=steps).id for p in probes]
    killed: set[tuple[int, str]] = set()
    decided: set[int] = set()
    deadline = time.monotonic() + 150
    while len(killed) < 20 or any(status(r) != "COMPLETED" for r in runs):
        assert time.monotonic() < deadline, f"stuck after {len(killed)} kills:\n{celery.logs()}"
        for i, (run_id, p) in enumerate(zip(runs, probes, strict=True)):
            for what, step, pid in p.lines():
                if what != "start" or (i, step) in killed:
                    continue
                killed.add((i, step))
                proc = slots.pop(int(pid))  # the worker executing this step
                celery.kill(proc)
                p.release(step)  # its next attempt may finish
                new = celery.worker(proc.name, wait=False)
                slots[new.pid] = new
            if i not in decided and status(run_id) == "PAUSED":
                confirm(run_id, reviewer)
                decided.add(i)
        time.sleep(0.02)

    for run_id, p in zip(runs, probes, strict=True):
        assert [p.ends(s) for s in steps] == [1] * 10  # no checkpointed step ran again
        assert [p.starts(s) for s in steps] == [2] * 10  # each first attempt was killed
        completed = list(RunEvent.objects.filter(run_id=run_id, event="StepCompleted").values_list("step_name"))
        assert [c[0] for c in completed] == steps
        req = Requirement.objects.get(run_id=run_id)
        assert req.status == "RESOLVED" and req.resolution == {"action": "confirm"}
        assert Decision.objects.filter(requirement=req).count() == 1
    celery_workers[:] = list(slots.values())


# -- Redis goes away -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a free loopback port, to stop and start at will."""

    def __init__(self, workdir):
        self.port, self.workdir, self.proc = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_decisions_are_kept_while_redis_is_down_and_runs_go_on_when_it_is_back(celery, own_redis, make_probe, reviewer):
    broker = Celery("hitl_site", set_as_current=False)
    broker.config_from_object("django.conf:settings", namespace="CELERY")
    broker.conf.broker_url = own_redis.url
    previous = dispatch.set_backend(lambda run_id: dispatch.celery_send(run_id, app=broker, queue=celery.queue))
    try:
        worker = celery.worker("outage", env={"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url})
        probes = [make_probe() for _ in range(5)]
        runs = [start(p).id for p in probes]
        for run_id in runs:
            wait_status(run_id, "PAUSED", celery=celery)

        own_redis.stop()
        for run_id in runs:
            began = time.monotonic()
            req = confirm(run_id, reviewer)  # accepted and stored; sending fails quietly
            assert time.monotonic() - began < 5
            assert req.status == "RESOLVED"
        assert Decision.objects.filter(run_id__in=runs).count() == 5
        time.sleep(0.5)
        assert all(status(run_id) == "PAUSED" for run_id in runs)  # nothing could reach the worker

        own_redis.start()  # same port; the worker reconnects by itself
        soon = timezone.now() + timedelta(seconds=settings.HITL_REQUEUE_SECONDS + 1)
        assert services.runs_recover(now=soon) == 5  # what the sweeper does once the marks pass
        for run_id in runs:
            wait_status(run_id, "COMPLETED", timeout=40, celery=celery)
        for p in probes:
            assert [p.ends(s) for s in "abc"] == [1, 1, 1]
        assert Decision.objects.filter(run_id__in=runs).count() == 5
    finally:
        dispatch.set_backend(previous)
        celery.stop(worker)


def test_workers_reconnect_after_their_database_connections_are_killed(celery, celery_workers, probe, reviewer):
    """A PostgreSQL restart (here: every worker connection terminated between tasks) costs no run."""
    from django.db import connection

    first = start(probe)
    wait_status(first.id, "PAUSED", celery=celery)  # the workers hold connections now
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    confirm(first.id, reviewer)
    wait_status(first.id, "COMPLETED", celery=celery)
    second = start(probe)  # and the other worker's next task too
    wait_status(second.id, "PAUSED", celery=celery)
    confirm(second.id, reviewer)
    wait_status(second.id, "COMPLETED", celery=celery)
