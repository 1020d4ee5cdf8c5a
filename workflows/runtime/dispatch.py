"""Where "advance this run" goes: a Celery worker, or the in-process worker in embedded mode.

Services call :func:`advance_on_commit` and know nothing more: nothing is sent before the
transaction that made the work commits. Who receives it is installed from above, when the app
starts (``WorkflowsConfig.ready``: ``worker.submit`` in embedded mode, :func:`celery_send`
otherwise), so this module imports neither the worker nor the services it calls; tests install
their own (:func:`set_backend`). Sending never fails the caller: a run that could not be sent is
sent again by the sweeper (``services.runs_recover``), so a decision is stored even while the
broker is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger("workflows")

ADVANCE_TASK = "workflows.tasks.advance_run"
# Publishing is retried briefly only: the request that stored a decision waits for it, and the
# sweeper sends the run again anyway.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}

Backend = Callable[[str], None]

_installed: Backend | None = None
_backend: Backend | None = None


def install(backend: Backend) -> None:
    """Make ``backend(run_id)`` this process's receiver of continuations (done once, at start)."""
    global _installed
    _installed = backend


def set_backend(backend: Backend | None) -> Backend | None:
    """Use ``backend(run_id)`` instead of the installed one (None restores it); returns the
    backend it replaces."""
    global _backend
    previous, _backend = _backend, backend
    return previous


def celery_send(run_id: str, *, app=None, **options) -> None:
    """Publish an ``advance_run`` task (ids only) through ``app`` (default: the project's)."""
    if app is None:
        from celery import current_app as app
    app.send_task(ADVANCE_TASK, args=[str(run_id)], retry_policy=SEND_RETRY_POLICY, **options)


def send(run_id) -> None:
    backend = _backend or _installed
    if backend is None:
        raise RuntimeError("no dispatch backend: WorkflowsConfig.ready installs one when Django starts")
    backend(str(run_id))


def send_quietly(run_id) -> bool:
    """:func:`send`, logging instead of raising (the sweeper sends the run again). True if sent."""
    try:
        send(run_id)
    except Exception:
        log.warning("could not schedule run %s; the sweeper will send it again", run_id, exc_info=True)
        return False
    return True


def advance_on_commit(run_id) -> None:
    transaction.on_commit(lambda: send_quietly(run_id))
