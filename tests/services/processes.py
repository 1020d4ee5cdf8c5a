"""Real Celery worker and beat processes for tests (services mode), on the test database.

Each process logs to a file of its own (``logs()`` shows them when a test fails) and runs in a
session of its own, so ``kill`` takes it down as a machine failure would. They use the queue given
(default: the settings' queue); ``stop_all`` stops everything started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def _wait_for(predicate, *, timeout: float, interval: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url_for_subprocesses() -> str:
    """The test database, for processes the tests start (pytest-django renamed NAME)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class CeleryProcesses:
    """Celery workers and beat for tests. ``env`` adds to or overrides the processes' environment
    (the defaults: test database, test workflows, a 2 s lease, a sweep every 0.5 s)."""

    def __init__(self, logdir: Path, *, queue: str | None = None, **env):
        self.logdir = logdir
        self.queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocesses(),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "HITL_WORKFLOW_MODULES": "tests.services.flows",
            "HITL_LEASE_SECONDS": "2",
            "HITL_SWEEP_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.env.pop("HITL_TEST_SERVICES", None)
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, name: str, args: list[str], env: dict | None) -> subprocess.Popen:
        log = self.logdir / f"{name}-{len(self.procs)}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "hitl_site", *args, "--logfile", str(log)],
                cwd=BASE_DIR,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.log = log  # type: ignore[attr-defined]
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(self, name: str = "w", *, env: dict | None = None, wait: bool = True) -> subprocess.Popen:
        """A solo worker (one task at a time, in the process itself: its pid is the task's)."""
        args = ["worker", "-P", "solo", "-l", "info", "-n", f"{name}-{uuid.uuid4().hex[:8]}@%h"]
        args += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        proc = self._spawn(name, args, env)
        if wait:
            self.wait_ready(proc)
        return proc

    def beat(self, *, env: dict | None = None) -> subprocess.Popen:
        schedule = self.logdir / f"beat-{uuid.uuid4().hex[:8]}"
        proc = self._spawn("beat", ["beat", "-l", "info", "-s", str(schedule), "--pidfile", f"{schedule}.pid"], env)
        _wait_for(lambda: self._log_has(proc, "beat: Starting..."), timeout=30, interval=0.1, what="celery beat")
        return proc

    def _log_has(self, proc, text: str) -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.returncode}:\n{proc.log.read_text()[-3000:]}")
        return text in proc.log.read_text(errors="replace")

    def wait_ready(self, proc, timeout: float = 30.0) -> None:
        _wait_for(lambda: self._log_has(proc, " ready."), timeout=timeout, interval=0.1, what="a Celery worker")

    def kill(self, proc) -> None:
        """SIGKILL: no clean shutdown, nothing acknowledged, as when a machine dies."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, proc) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    def logs(self) -> str:
        return "\n".join(f"== {p.log.name}\n{p.log.read_text(errors='replace')[-4000:]}" for p in self.procs)
