"""Fixtures of the background-execution tests: the test workflows, side-effect probes, dispatch
backends, bounded waiting, and (services mode) real Celery worker and beat processes."""

from __future__ import annotations

import os
import time
import uuid
from functools import partial

import pytest

from tests.services import flows
from tests.services.processes import BASE_DIR, CeleryProcesses
from workflows import registry
from workflows.runtime import dispatch

# Registered at collection, before any test forks a live server, which must know it. The others
# are registered for the tests of this directory only (other tests list or run every workflow).
registry.register(flows.sleepy)

__all__ = ["BASE_DIR", "Probe", "services_mode", "wait_for"]


def services_mode() -> bool:
    return os.environ.get("HITL_TEST_SERVICES", "") not in ("", "0")


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05, what: str = "the condition"):
    """Poll ``predicate`` until it returns something truthy (returned), for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


class Probe:
    """What the probe steps of the runs tagged with ``tag`` did (see flows.py)."""

    def __init__(self):
        self.tag = uuid.uuid4().hex
        self.dir = flows.side_effects_dir()

    def extra(self, **more) -> dict:
        """``additional_data`` for a run whose steps report here."""
        return {"tag": self.tag, **more}

    def lines(self) -> list[list[str]]:
        path = self.dir / f"{self.tag}.log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def count(self, what: str, step: str) -> int:
        return sum(1 for line in self.lines() if line[0] == what and line[1] == step)

    def starts(self, step: str) -> int:
        return self.count("start", step)

    def ends(self, step: str) -> int:
        return self.count("end", step)

    def steps(self, what: str = "end") -> list[str]:
        return [line[1] for line in self.lines() if line[0] == what]

    def release(self, step: str) -> None:
        """Let a held step go on (``hold``)."""
        (self.dir / f"{self.tag}.{step}.go").touch()

    def cleanup(self) -> None:
        for path in self.dir.glob(f"{self.tag}*"):
            path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _test_workflows():
    for workflow in flows.ALL:
        registry.register(workflow)
    yield
    for workflow in flows.ALL:
        if workflow is not flows.sleepy:
            registry._registry.pop(workflow.name, None)  # no public unregister: tests only


@pytest.fixture
def probe():
    p = Probe()
    yield p
    p.cleanup()


@pytest.fixture
def make_probe():
    made = []

    def make() -> Probe:
        made.append(Probe())
        return made[-1]

    yield make
    for p in made:
        p.cleanup()


@pytest.fixture(scope="module")
def celery(django_db_setup, tmp_path_factory):
    """Celery processes on the test database and a queue of their own (other workers, of other
    tests or test runs on the same Redis, never take their tasks); what this process sends goes
    there too. Tests start the workers (and beat) they need; all stop at the end of the module."""
    procs = CeleryProcesses(tmp_path_factory.mktemp("celery"), queue=f"hitl-test-{uuid.uuid4().hex[:12]}")
    previous = dispatch.set_backend(partial(dispatch.celery_send, queue=procs.queue))
    yield procs
    dispatch.set_backend(previous)
    procs.stop_all()


@pytest.fixture(scope="module")
def celery_workers(celery):
    """Two solo workers (started in parallel)."""
    workers = [celery.worker(f"w{i}", wait=False) for i in range(2)]
    for proc in workers:
        celery.wait_ready(proc)
    return workers
