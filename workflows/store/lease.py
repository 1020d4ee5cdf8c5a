"""Who executes a run: the run row lock, the version that fences an execution, and its lease.

A run is claimed under its row lock; the claim bumps its ``version``, the fencing token of the
execution, and every later write of that execution checks it (:func:`fence`): a worker whose run
was handed to another one (it was presumed dead) finds another version and writes nothing.

``lease_until`` says when the sweeper steps in: for a RUNNING run, when its worker's lease runs
out (the :data:`heartbeat` renews it while the worker lives); for a PENDING or PAUSED run, when a
continuation that was sent should have been picked up (``services.runs_recover`` sends it again).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections
from django.utils import timezone

from workflows.engine.errors import ConflictError
from workflows.engine.state import RunState
from workflows.models import WorkflowRun

from . import sql

log = logging.getLogger("workflows")


class LeaseLost(ConflictError):
    """The run was handed to another worker (this one was presumed dead); nothing was written."""


def lease_duration() -> timedelta:
    return timedelta(seconds=getattr(settings, "HITL_LEASE_SECONDS", 60))


def requeue_delay() -> timedelta:
    """How long a sent continuation may wait for a worker before the sweeper sends it again."""
    return timedelta(seconds=getattr(settings, "HITL_REQUEUE_SECONDS", 30))


def lock_run(run_id, *, skip_locked: bool = False) -> WorkflowRun | None:
    """The run row, locked to the end of the transaction (None: no such run, or skipped).

    FOR NO KEY UPDATE serialises our writers without blocking the inserts of events and
    requirements that reference the run (those take FOR KEY SHARE).
    """
    try:
        found = sql.instances(WorkflowRun, lock=True, skip_locked=skip_locked, id=run_id)
    except (ValueError, DjangoValidationError):
        return None
    return found[0] if found else None


def lock_owner(run_id) -> tuple[int, str] | None:
    """``(version, cancel_requested_by)`` of the run, its row locked to the end of the transaction."""
    found = sql.select(WorkflowRun, ("version", "cancel_requested_by"), lock=True, id=run_id)
    return tuple(found[0]) if found else None


def fence(state: RunState, owner) -> None:
    """Raise ``LeaseLost`` unless this execution still owns the run: ``owner`` (the run's
    ``(version, cancel_requested_by)``, None if it is gone) has this execution's version."""
    if owner is None or owner[0] != state.version:
        raise lease_lost(state)


def lease_lost(state: RunState) -> LeaseLost:
    return LeaseLost(
        f"Run {state.run_id} was handed to another worker while this one executed it; nothing was written."
    )


class _Heartbeat:
    """Renews the leases of the runs this process executes, from a thread of its own.

    A lease then runs out only when its worker is gone (killed, crashed, frozen), never because a
    step takes long. The thread runs while this process holds a lease, and ends when it holds none.
    """

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked child holds nothing

    @staticmethod
    def _period() -> float:
        return lease_duration().total_seconds() / 3

    def _reset(self) -> None:
        self._pace = float("inf")  # set by the thread, each beat
        self._held: dict[str, int] = {}
        self._changed = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def hold(self, run_id: str, version: int) -> None:
        with self._changed:
            self._held[run_id] = version
            # claim() has just set a full lease: the next beat, a third of a lease away, is soon
            # enough. Waking the thread now would put its write beside this execution's writes.
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="hitl-lease-heartbeat", daemon=True)
                self._thread.start()
            elif self._period() < self._pace:
                self._changed.notify_all()  # leases got shorter (a setting changed): beat at their pace

    def release(self, run_id: str, version: int | None = None) -> None:
        with self._changed:
            if version is not None and self._held.get(run_id) != version:
                return  # held again since, by a newer execution
            self._held.pop(run_id, None)  # the thread ends at its next beat if nothing is held

    def held(self) -> dict[str, int]:
        with self._changed:
            return dict(self._held)

    def _loop(self) -> None:
        while True:
            with self._changed:
                self._pace = self._period()
                self._changed.wait(self._pace)
                if not self._held:
                    self._thread = None
                    return
                held = dict(self._held)
            try:
                until = timezone.now() + lease_duration()
                for run_id, version in held.items():
                    renewed = WorkflowRun.objects.filter(
                        id=run_id, version=version, status=WorkflowRun.Status.RUNNING
                    ).update(lease_until=until)
                    if not renewed:  # finished, handed over or gone: nothing left to hold
                        self.release(run_id, version)
            except Exception:  # the next beat tries again; a lease that runs out is recovered anyway
                log.warning("could not renew run leases", exc_info=True)
            finally:
                connections.close_all()  # this thread's connections only


heartbeat = _Heartbeat()
