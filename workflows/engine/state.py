"""A run's state: what a store persists and the interpreter reads and advances.

The interpreter replays the definition from the top every time the run advances. Everything
it must not redo (a step's output, a selector's choice, an agent's turn, a tool's result, an
attempt count) is kept in ``memo`` under a key derived from the step's runtime key (``keys.py``),
so replay is deterministic. Memo entries travel inside events (``Event.memo``): a store that keeps the events
can rebuild the memo after a crash from the last snapshot plus the events after it.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import keys
from .events import Event
from .primitives import RunStatus
from .requirements import PENDING, Requirement


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunState:
    run_id: str
    workflow_name: str
    fingerprint: str = ""
    status: str = RunStatus.PENDING.value
    input: Any = None
    additional_data: dict = field(default_factory=dict)
    content: Any = None
    error: str | None = None
    created_by: str | None = None
    pause_kind: str | None = None
    paused_step_name: str | None = None
    paused_step_path: str | None = None
    memo: dict = field(default_factory=dict)
    seq: int = 0
    version: int = 0
    requirements: list[Requirement] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Not yet written by the store.
    new_events: list[Event] = field(default_factory=list, repr=False)
    new_step_runs: list[dict] = field(default_factory=list, repr=False)
    new_requirements: list[Requirement] = field(default_factory=list, repr=False)
    dirty_requirements: set[str] = field(default_factory=set, repr=False)
    # ``requirement_for``'s index of ``requirements`` by key, rebuilt when requirements are added.
    _requirements_by_key: dict[str, Requirement] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def new(
        cls,
        *,
        workflow_name: str,
        fingerprint: str,
        input: Any,
        additional_data: dict | None,
        created_by: str | None,
        run_id: str | None = None,
        now: datetime | None = None,
    ) -> RunState:
        return cls(
            run_id=run_id or str(uuid.uuid4()),
            workflow_name=workflow_name,
            fingerprint=fingerprint,
            input=input,
            additional_data=dict(additional_data or {}),
            created_by=created_by,
            created_at=now or utcnow(),
        )

    # -- events and memo -----------------------------------------------------------------------
    def record(self, event: Event) -> Event:
        self.seq += 1
        event.seq = self.seq
        if event.memo:
            self.memo.update(event.memo)
        self.new_events.append(event)
        return event

    def fold(self, events) -> None:
        """Apply stored events written after the snapshot (crash recovery)."""
        for event in events:
            if event.seq <= self.seq:
                continue
            if event.memo:
                self.memo.update(event.memo)
            self.seq = event.seq

    # -- requirements --------------------------------------------------------------------------
    def requirement_for(self, key: str) -> Requirement | None:
        if len(self._requirements_by_key) != len(self.requirements):
            self._requirements_by_key = {r.key: r for r in self.requirements}
        return self._requirements_by_key.get(key)

    def add_requirement(self, req: Requirement) -> None:
        self.requirements.append(req)
        self.new_requirements.append(req)

    @property
    def pending_requirements(self) -> list[Requirement]:
        return [r for r in self.requirements if r.status == PENDING]

    def unapplied_requirements(self) -> list[Requirement]:
        """Requirements decided (or timed out) since the run paused, not yet acted on."""
        return [r for r in self.requirements if r.status != PENDING and keys.acknowledged(r.id) not in self.memo]

    # -- snapshot ------------------------------------------------------------------------------
    @property
    def session_state(self) -> dict:
        return self.memo.get(keys.SESSION_STATE) or {}

    def snapshot(self) -> dict:
        return {"memo": self.memo, "seq": self.seq}

    def restore(self, snapshot: dict | None) -> None:
        snapshot = snapshot or {}
        self.memo = dict(snapshot.get("memo") or {})
        self.seq = snapshot.get("seq", 0)

    def clone(self) -> RunState:
        return copy.deepcopy(self)
