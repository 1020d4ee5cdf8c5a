"""Rows <-> engine state: what a run, requirement, event or step run row holds, field by field.

Reading builds the engine's ``RunState`` and ``Requirement`` from rows; writing builds rows as
dicts keyed by field name (what ``sql.insert`` and ``sql.write_fenced`` take), so a value lands
in the column it names whatever the order of the model's fields.
"""

from __future__ import annotations

import functools
from datetime import datetime

from django.contrib.auth import get_user_model

from workflows.engine import persistence
from workflows.engine.events import Event
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.engine.state import RunState
from workflows.models import NO_DATE, Requirement, RunEvent, WorkflowRun

from . import sql

TERMINAL = {WorkflowRun.Status.COMPLETED, WorkflowRun.Status.CANCELLED, WorkflowRun.Status.ERROR}


# -- rows -> engine ---------------------------------------------------------------------------
def requirement_to_engine(row: Requirement) -> EngineRequirement:
    return EngineRequirement(
        id=str(row.id),
        run_id=str(row.run_id),
        key=row.key,
        path=row.path,
        step_name=row.step_name,
        kind=row.kind,
        message=row.message or None,
        payload=row.payload or {},
        iteration=row.iteration,
        attempt=row.attempt,
        status=row.status,
        resolution=row.resolution,
        resolved_by=row.resolved_by_name or None,
        resolved_at=row.resolved_at,
        timeout_at=row.timeout_at,
        on_timeout=row.on_timeout or None,
        version=row.version,
        batch=row.batch or None,
        created_at=row.created_at,
        seq=row.seq,
        team=team_options(row),
        due_at=row.due_at,
    )


def team_options(row: Requirement) -> dict:
    """The row's team options as the engine's requirement carries them (non-defaults only)."""
    options = {}
    if row.separation_of_duties:
        options["separation_of_duties"] = True
    if row.approvals_required != 1:
        options["approvals_required"] = row.approvals_required
    if row.approvals_per_group:
        options["approvals_per_group"] = dict(row.approvals_per_group)
    if row.priority != Requirement.Priority.NORMAL:
        options["priority"] = row.priority
    return options


def state_from_row(row: WorkflowRun, *, fold_events: bool = True, requirements=None) -> RunState:
    """The engine state of a run row; ``requirements``: its requirement rows, if already read
    (rows: model instances, or anything with their attributes)."""
    state = RunState(
        run_id=str(row.id),
        workflow_name=row.workflow_name,
        fingerprint=row.fingerprint,
        status=row.status,
        input=row.input,
        additional_data=row.additional_data or {},
        content=row.content,
        error=row.error or None,
        created_by=row.created_by_name or None,
        pause_kind=row.pause_kind or None,
        paused_step_name=row.paused_step_name or None,
        paused_step_path=row.paused_step_path or None,
        version=row.version,
        created_at=row.created_at,
    )
    state.restore(row.state)
    # Events written after the snapshot (a worker died mid-run) carry the rest of the memo.
    if fold_events:
        state.fold(RunEvent.objects.filter(run_id=row.id, seq__gt=state.seq).order_by("seq").only("seq", "memo"))
    if requirements is None:
        requirements = sql.instances(Requirement, order_by=("seq", "created_at"), run=row.id)
    state.requirements = [requirement_to_engine(r) for r in requirements]
    return state


@functools.cache
def field_names(model) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and attribute names of the model's concrete fields."""
    fields = model._meta.concrete_fields
    return tuple(f.name for f in fields), tuple(f.attname for f in fields)


def user_id(username: str | None):
    """The id of the user the engine names (None for the system, or a name without a user)."""
    if not username or username == persistence.SYSTEM_ACTOR:
        return None
    return get_user_model().objects.filter(username=username).values_list("id", flat=True).first()


def user(username: str | None):
    """The user row the engine names (None for the system, or a name without a user)."""
    if not username or username == persistence.SYSTEM_ACTOR:
        return None
    return get_user_model().objects.filter(username=username).first()


# -- engine -> rows ---------------------------------------------------------------------------
def new_run_row(state: RunState, *, now: datetime, lease_until: datetime | None) -> dict:
    """The run row of a run the engine just created."""
    return {
        "id": state.run_id,
        "workflow_name": state.workflow_name,
        "fingerprint": state.fingerprint,
        "status": state.status,
        "input": state.input,
        "additional_data": state.additional_data,
        "state": state.snapshot(),
        "version": state.version,
        "created_by": user_id(state.created_by),
        "created_by_name": state.created_by or "",
        "created_at": state.created_at or now,
        "updated_at": now,
        "lease_until": lease_until,
        "content": None,
        "error": "",
        "pause_kind": "",
        "paused_step_name": "",
        "paused_step_path": "",
        "cancel_requested_by": "",
        "finished_at": None,
    }


def end_values(state: RunState, now: datetime) -> dict:
    """The run row's columns at the end of an execution."""
    return {
        "status": state.status,
        "content": state.content,
        "error": state.error or "",
        "state": state.snapshot(),
        "fingerprint": state.fingerprint,
        "pause_kind": state.pause_kind or "",
        "paused_step_name": state.paused_step_name or "",
        "paused_step_path": state.paused_step_path or "",
        "version": state.version + 1,
        "lease_until": None,
        "updated_at": now,
        "finished_at": now if state.status in TERMINAL else None,
    }


def event_row(run_id, event: Event) -> dict:
    return {
        "run": run_id,
        "seq": event.seq,
        "event": event.event,
        "path": event.path or "",
        "step_name": event.step_name or "",
        "data": event.data,
        "memo": event.memo,
        "created_at": event.created_at,
    }


def step_run_row(run_id, step_run: dict) -> dict:
    return {
        "run": run_id,
        "key": step_run["key"],
        "path": step_run["path"],
        "name": step_run["name"],
        "kind": step_run["kind"],
        "iteration": step_run["iteration"],
        "attempt": step_run["attempt"],
        "status": step_run["status"],
        "output": step_run["output"],
        "error": step_run["error"] or "",
        "started_at": step_run["started_at"],
        "finished_at": step_run["finished_at"],
    }


def requirement_row(req: EngineRequirement, *, run_id, workflow_name: str, unknown_assignment: dict) -> dict:
    """The row of a requirement the engine created; ``unknown_assignment``: the assignees and
    groups it names that do not exist."""
    priority = req.team.get("priority", Requirement.Priority.NORMAL)
    return {
        "id": req.id,
        "run": run_id,
        "key": req.key,
        "path": req.path,
        "step_name": req.step_name,
        "kind": req.kind,
        "message": req.message or "",
        "payload": req.payload,
        "iteration": req.iteration,
        "attempt": req.attempt,
        "batch": req.batch or "",
        "timeout_at": req.timeout_at,
        "on_timeout": req.on_timeout or "",
        "version": req.version,
        # Usually PENDING; CANCELLED when the execution that created it ended (error, cancel)
        # before writing it.
        "status": req.status,
        "resolved_at": req.resolved_at,
        "resolved_by_name": req.resolved_by or "",
        "created_at": req.created_at,
        "seq": req.seq,
        "workflow_name": workflow_name,
        "is_assigned": bool(req.assignees or req.groups),
        "unknown_assignment": unknown_assignment,
        "resolution": None,
        "resolved_by": None,
        "priority": priority,
        "priority_rank": Requirement.PRIORITY_RANKS[priority],
        "due_at": req.due_at,
        "separation_of_duties": bool(req.team.get("separation_of_duties")),
        "approvals_required": req.team.get("approvals_required", 1),
        "approvals_per_group": req.team.get("approvals_per_group") or {},
        "due_sort": min(d for d in (req.due_at, req.timeout_at, NO_DATE) if d is not None),
        "deadline_sort": req.timeout_at or NO_DATE,
    }
