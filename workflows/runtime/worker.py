"""Embedded mode's background work: worker threads and a sweeper thread inside the web server.

The threads run the same services a Celery worker and beat run (``services.run_advance`` and
``services.sweep``), so a request never waits for a step. They run only in the process that
serves the site: ``hitl_site.asgi`` starts them when daphne's reactor starts, or at the latest
with the first HTTP request (``serving``). Anywhere else (a management command, a shell, a test)
:func:`submit` runs the continuation in the calling thread, after the commit that scheduled it,
as there is no worker to hand it to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sys
import threading

from django.conf import settings
from django.db import close_old_connections

from workflows import services
from workflows.runtime import broadcast

log = logging.getLogger("workflows")

_lock = threading.Lock()
_pid: int | None = None  # the process the threads run in (a forked child has none)
_stop = threading.Event()
_queue: queue.Queue[str | None] = queue.Queue()
_threads: list[threading.Thread] = []


def running() -> bool:
    """True in the process whose worker threads run."""
    return _pid == os.getpid() and not _stop.is_set()


def start() -> bool:
    """Start the worker threads and the sweeper in this process (once). True if it started them."""
    global _pid, _stop, _queue, _threads
    with _lock:
        if running():
            return False
        _pid, _stop, _queue = os.getpid(), threading.Event(), queue.Queue()
        count = max(1, int(getattr(settings, "HITL_EMBEDDED_WORKERS", 2)))
        _threads = [
            threading.Thread(target=_work, args=(_queue,), name=f"hitl-worker-{i}", daemon=True) for i in range(count)
        ]
        _threads.append(threading.Thread(target=_sweep, args=(_stop,), name="hitl-sweeper", daemon=True))
        for thread in _threads:
            thread.start()
    log.info("in-process worker started (%d threads, sweep every %ss)", count, settings.HITL_SWEEP_SECONDS)
    return True


def stop(timeout: float = 10.0) -> None:
    """Stop the threads after the runs they execute (tests; a server just exits)."""
    global _pid
    with _lock:
        if not running():
            return
        _stop.set()
        workers = [t for t in _threads if t.name.startswith("hitl-worker")]
        for _ in workers:
            _queue.put(None)
        threads, _pid = list(_threads), None
    for thread in threads:
        thread.join(timeout)


def submit(run_id: str) -> None:
    """Advance the run in the background (in the serving process), or right here elsewhere."""
    if running():
        _queue.put(str(run_id))
        return
    services.run_advance(run_id=run_id)


def start_when_serving() -> None:
    """Start with the server. Daphne runs a Twisted reactor (installed before it imports the
    application): start once it runs, in the serving process only."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is not None:
        reactor.callWhenRunning(start)


def serving(app):
    """ASGI wrapper: the in-process worker runs in the process that serves (any ASGI server)."""

    async def wrapper(scope, receive, send):
        if not running():
            start()
        broadcast.use_loop(asyncio.get_running_loop())  # pushes from worker threads land here
        return await app(scope, receive, send)

    return wrapper


def _work(jobs: queue.Queue) -> None:
    while True:
        run_id = jobs.get()
        if run_id is None:
            return
        close_old_connections()
        try:
            services.run_advance(run_id=run_id)
        except Exception:
            log.exception("run %s failed in the in-process worker", run_id)
        finally:
            close_old_connections()


def _sweep(stop: threading.Event) -> None:
    while not stop.is_set():
        close_old_connections()
        try:
            services.sweep()
        except Exception:
            log.exception("sweep failed")
        finally:
            close_old_connections()
        stop.wait(settings.HITL_SWEEP_SECONDS)
