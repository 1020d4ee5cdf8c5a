"""Embedded mode's background worker: a thread in the web process runs the same service the
Celery task runs, and a sweeper thread fires timeouts. A request never waits for a step."""

from __future__ import annotations

import logging
import queue
import threading

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger("workflows")

_queue: queue.Queue[str] = queue.Queue()
_lock = threading.Lock()
_started = False


def submit(run_id: str) -> None:
    start()
    _queue.put(run_id)


def start() -> None:
    """Start the worker and sweeper threads once per process."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
        threading.Thread(target=_work, name="hitl-worker", daemon=True).start()
        threading.Thread(target=_sweep, name="hitl-sweeper", daemon=True).start()


def _work() -> None:
    from workflows import services

    while True:
        run_id = _queue.get()
        close_old_connections()
        try:
            services.run_advance(run_id=run_id)
        except Exception:
            log.exception("run %s failed in the in-process worker", run_id)
        finally:
            close_old_connections()


def _sweep() -> None:
    from workflows import services

    stop = threading.Event()
    while not stop.wait(getattr(settings, "HITL_SWEEP_SECONDS", 2.0)):
        close_old_connections()
        try:
            services.sweep()
        except Exception:
            log.exception("sweep failed")
        finally:
            close_old_connections()
