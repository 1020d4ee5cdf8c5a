"""Where "advance this run" goes: a Celery worker, or the in-process worker in embedded mode.

Services call :func:`advance_on_commit`; the backend is chosen lazily from settings, so nothing
is sent before the transaction that made the work commits, and tests can install their own.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction

_backend: Callable[[str], None] | None = None


def set_backend(backend: Callable[[str], None] | None) -> None:
    global _backend
    _backend = backend


def _default_backend(run_id: str) -> None:
    if settings.HITL_EMBEDDED:
        from workflows import worker

        worker.submit(run_id)
    else:
        from hitl_site.celery import app

        app.send_task("workflows.tasks.advance_run", args=[run_id])


def send(run_id: str) -> None:
    (_backend or _default_backend)(str(run_id))


def advance_on_commit(run_id) -> None:
    transaction.on_commit(lambda: _send_quietly(str(run_id)))


def _send_quietly(run_id: str) -> None:
    # A broker outage must not fail the request that stored a decision: the sweeper finds runs
    # with work to do and no worker, and sends them again.
    try:
        send(run_id)
    except Exception:  # noqa: BLE001
        import logging

        logging.getLogger("workflows").warning("could not schedule run %s; the sweeper will", run_id, exc_info=True)
