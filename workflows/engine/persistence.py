"""Where runs are kept. The engine talks to a :class:`RunStore`; Django's lives in workflows/store/.

The in-memory store here serves engine tests and scripts without a database. It round-trips
state through JSON, as a real store does, so what works here does not depend on shared objects.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Protocol

from .errors import ConflictError, DecisionError, ExpiredError, RunNotFoundError, RunStateError
from .primitives import RunStatus
from .requirements import EXPIRED, PENDING, RESOLVED, Requirement
from .state import RunState

SYSTEM_ACTOR = "system"


class RunStore(Protocol):
    def insert(self, state: RunState) -> None: ...

    def load(self, run_id: str) -> RunState: ...

    def claim(self, run_id: str, *, now: datetime, check=None, decisions=()) -> RunState:
        """Take the run for execution (status -> RUNNING) if it can go on; else raise.

        Due timeouts are applied first, then ``decisions`` — ``(requirement_id, resolution,
        version, actor)`` — each a compare-and-set. ``check(state)`` may raise to refuse. When
        anything raises, nothing of the claim or the decisions is stored.
        """

    def checkpoint(self, state: RunState) -> None:
        """Persist what happened since the last checkpoint (events, step runs, requirements)."""

    def finish(self, state: RunState) -> None:
        """Persist the state at the end of an execution (paused, completed, cancelled, error)."""

    # Optional, looked up with getattr: ``parallel_max_workers`` (int | None), how many branches of
    # a Parallel run at once; ``thread_done()``, called in a thread the async entry points made
    # once they are done with the store there (e.g. to close that thread's connections).


# -- rules shared by every store ------------------------------------------------------------------
def check_decidable(req: Requirement, *, version: int | None, now: datetime) -> None:
    """Raise unless a person may decide ``req`` now (pending, current version, not past due)."""
    if req.status == EXPIRED:  # a late decision gets a clear "expired" answer, not a generic conflict
        raise ExpiredError("This requirement expired at its deadline; the decision was not applied.")
    if req.status != PENDING:
        who = f" by {req.resolved_by}" if req.resolved_by else ""
        raise ConflictError(f"This requirement is already {req.status.lower()}{who}.")
    if version is not None and version != req.version:
        raise ConflictError("This requirement changed since it was shown; reload it.")
    if req.timeout_at is not None and now >= req.timeout_at:
        raise ExpiredError("This requirement expired at its deadline; the decision was not applied.")


def apply_decisions(state: RunState, decisions, now: datetime) -> list[Requirement]:
    """Apply ``(requirement_id, resolution, version, actor)`` decisions to the state's requirements
    (each checked like a person's decision); return the requirements that changed."""
    by_id = {r.id: r for r in state.requirements}
    changed = []
    for requirement_id, resolution, version, actor in decisions:
        req = by_id.get(requirement_id)
        if req is None:
            raise DecisionError(f"Requirement {requirement_id} does not belong to run {state.run_id}")
        check_decidable(req, version=version, now=now)
        apply_decision(req, resolution, actor, now)
        changed.append(req)
    return changed


def apply_decision(req: Requirement, resolution: dict, actor: str | None, now: datetime) -> None:
    req.status, req.resolution, req.resolved_by, req.resolved_at = RESOLVED, resolution, actor, now
    req.version += 1


def apply_timeout(req: Requirement, now: datetime) -> None:
    req.status, req.resolved_by, req.resolved_at = EXPIRED, SYSTEM_ACTOR, now
    req.resolution = {"action": "timed_out", "on_timeout": req.on_timeout or "cancel"}
    req.version += 1


def is_due(req: Requirement, now: datetime) -> bool:
    return req.status == PENDING and req.timeout_at is not None and now >= req.timeout_at


def check_continuable(state: RunState) -> None:
    """Raise ``RunStateError`` unless the run has something to do."""
    if state.status == RunStatus.PENDING.value:
        return
    if state.status != RunStatus.PAUSED.value:
        raise RunStateError(f"Cannot continue a run that is not paused. Current status: {state.status}")
    pending = state.pending_requirements
    batches = {r.batch for r in pending if r.batch}
    partial = [r for r in state.unapplied_requirements() if r.batch in batches]
    if partial:
        names = sorted({f"{r.step_name}: {r.tool_name}" for r in pending if r.batch in batches})
        raise RunStateError(f"Cannot continue run - unresolved executor requirements: {names}")
    if not state.unapplied_requirements():
        names = [r.step_name for r in pending]
        raise RunStateError(f"Cannot continue run - unresolved step requirements: {names}")


# -- the in-memory store --------------------------------------------------------------------------
class MemoryStore:
    def __init__(self):
        self._runs: dict[str, dict] = {}
        self._requirements: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.step_runs: dict[str, list[dict]] = {}
        self._lock = threading.RLock()

    @staticmethod
    def _row(state: RunState) -> dict:
        return json.loads(
            json.dumps(
                {
                    "run_id": state.run_id,
                    "workflow_name": state.workflow_name,
                    "fingerprint": state.fingerprint,
                    "status": state.status,
                    "input": state.input,
                    "additional_data": state.additional_data,
                    "content": state.content,
                    "error": state.error,
                    "created_by": state.created_by,
                    "pause_kind": state.pause_kind,
                    "paused_step_name": state.paused_step_name,
                    "paused_step_path": state.paused_step_path,
                    "snapshot": state.snapshot(),
                    "version": state.version,
                    "created_at": state.created_at.isoformat() if state.created_at else None,
                },
                default=str,
            )
        )

    def insert(self, state: RunState) -> None:
        with self._lock:
            self._runs[state.run_id] = self._row(state)
            self.events[state.run_id] = []
            self.step_runs[state.run_id] = []
            self._flush(state)

    def load(self, run_id: str) -> RunState:
        with self._lock:
            row = self._runs.get(run_id)
            if row is None:
                raise RunNotFoundError(f"No run with id {run_id}")
            state = RunState(
                run_id=row["run_id"],
                workflow_name=row["workflow_name"],
                fingerprint=row["fingerprint"],
                status=row["status"],
                input=row["input"],
                additional_data=row["additional_data"],
                content=row["content"],
                error=row["error"],
                created_by=row["created_by"],
                pause_kind=row["pause_kind"],
                paused_step_name=row["paused_step_name"],
                paused_step_path=row["paused_step_path"],
                version=row["version"],
                created_at=datetime.fromisoformat(row["created_at"]) if row["created_at"] else None,
            )
            state.restore(row["snapshot"])
            state.fold(_Ev(e) for e in self.events[run_id])
            # Creation order: rows are kept in insertion order and the sort is stable. Ties on
            # created_at (a frozen clock, one instant) must not fall back to the key, whose text
            # order is not creation order ("@10" < "@2").
            state.requirements = sorted(
                (Requirement.from_dict(r) for r in self._requirements.values() if r["run_id"] == run_id),
                key=lambda r: (r.seq, r.created_at),
            )
            return state

    def claim(self, run_id: str, *, now: datetime, check=None, decisions=()) -> RunState:
        with self._lock:
            state = self.load(run_id)
            for req in state.requirements:
                if is_due(req, now):
                    apply_timeout(req, now)
                    self._requirements[req.id] = req.to_dict()
            if check is not None:
                check(state)
            decided = apply_decisions(state, decisions, now)
            check_continuable(state)
            for req in decided:
                self._requirements[req.id] = req.to_dict()
            state.status = RunStatus.RUNNING.value
            state.version += 1
            self._runs[run_id].update(status=state.status, version=state.version)
            return state

    def _flush(self, state: RunState) -> None:
        for req in state.new_requirements:
            self._requirements[req.id] = json.loads(json.dumps(req.to_dict(), default=str))
        by_id = {r.id: r for r in state.requirements}
        for req_id in state.dirty_requirements:
            stored = self._requirements.get(req_id)
            req = by_id[req_id]
            if stored is not None and stored["version"] == req.version - 1:
                self._requirements[req_id] = req.to_dict()
        for event in state.new_events:
            row = event.to_dict()
            row["memo"] = json.loads(json.dumps(event.memo, default=str)) if event.memo else None
            self.events[state.run_id].append(row)
        self.step_runs[state.run_id].extend(state.new_step_runs)
        state.new_requirements, state.new_events, state.new_step_runs = [], [], []
        state.dirty_requirements = set()

    def checkpoint(self, state: RunState) -> None:
        with self._lock:
            self._flush(state)

    def finish(self, state: RunState) -> None:
        with self._lock:
            self._flush(state)
            self._runs[state.run_id] = self._row(state)

    def resolve(
        self, requirement_id: str, *, resolution: dict, version: int, actor: str | None, now: datetime
    ) -> Requirement:
        """A decision stored from elsewhere (what the Django services do), for tests and scripts."""
        with self._lock:
            row = self._requirements.get(requirement_id)
            if row is None:
                raise DecisionError(f"No requirement with id {requirement_id}")
            req = Requirement.from_dict(row)
            if is_due(req, now):
                apply_timeout(req, now)
                self._requirements[req.id] = req.to_dict()
            check_decidable(req, version=version, now=now)
            apply_decision(req, resolution, actor, now)
            self._requirements[req.id] = req.to_dict()
            return req


class _Ev:
    """A stored event row seen by ``RunState.fold``."""

    def __init__(self, row: dict):
        self.seq, self.memo = row["seq"], row.get("memo")


_default_store: RunStore | None = None


def set_default_store(store: RunStore | None) -> None:
    """Install the store ``Workflow.run()`` uses (the Django app installs its own)."""
    global _default_store
    _default_store = store


def get_default_store() -> RunStore:
    global _default_store
    if _default_store is None:
        _default_store = MemoryStore()
    return _default_store
