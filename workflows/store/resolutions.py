"""A requirement's resolution (a decision, or a timeout) written to its row, and told to the hooks.

Each write is a compare-and-set on the requirement's ``version``; the caller holds the run's row
lock (the lock order: the run row first, then its requirement rows).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from workflows import teams
from workflows.engine import persistence
from workflows.engine.errors import ConflictError
from workflows.engine.requirements import EXPIRED
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.models import Requirement, WorkflowRun
from workflows.runtime import hooks

from . import mapping, sql

# Called inside the resolving transaction for every resolution of a requirement, whatever its path:
# a person's decision (decision page, JSON API, Python API) or a timeout (the system), with
# (requirement=, user=, actor=, resolution=, shown=). The approvals app records its audit row here,
# so the row commits with the resolution or not at all, and ``workflows`` never imports ``approvals``.
resolution_hooks: list[Callable[..., None]] = []


def resolution_recorded(req, *, user=None, actor: str | None = None, shown: dict | None = None) -> None:
    """Hand the resolution just written to the hooks. ``req``: the requirement (a row, or the
    engine's; anything with ``id``, ``run_id``, ``resolution`` and ``payload``); ``user``: the
    decider's user row, None for the system or a name without one; ``actor``: the name recorded
    (default: the user's, else the system); ``shown``: what the decider saw (default: the payload)."""
    actor = actor or (user.get_username() if user is not None else None) or persistence.SYSTEM_ACTOR
    shown = dict(req.payload or {}) if shown is None else shown
    for hook in resolution_hooks:
        hook(requirement=req, user=user, actor=actor, resolution=req.resolution, shown=shown)


def save_timeout(req: EngineRequirement, now: datetime) -> None:
    """Apply ``on_timeout`` to the due requirement ``req`` and write it, audited as the system."""
    persistence.apply_timeout(req, now)
    save_requirement(req)
    resolution_recorded(req)


def save_requirement(req: EngineRequirement, *, user_id=None) -> None:
    """Write a decision or timeout made on ``req`` (read at ``req.version - 1``) to its row.
    ``user_id``: the decider's id when the caller has it (else looked up from the name)."""
    updated = sql.update(
        Requirement,
        {
            "status": req.status,
            "resolution": req.resolution,
            "resolved_at": req.resolved_at,
            "resolved_by_name": req.resolved_by or "",
            "version": req.version,
            "resolved_by": user_id if user_id is not None else mapping.user_id(req.resolved_by),
        },
        id=req.id,
        version=req.version - 1,
    )
    if not updated:
        raise ConflictError("This requirement changed since it was read; nothing was applied.")
    if req.status == EXPIRED:  # hook: a timeout decided it (sweeper, claim, or a late decision)
        hooks.call(hooks.requirement_expired, run_id=req.run_id, requirement_id=req.id)


def check_team_rules(req: EngineRequirement, run: WorkflowRun, user, rows) -> None:
    """A decision of the Python API obeys the same team rules as the pages and the API: the claim,
    separation of duties; a quorum needs its approvals one by one (the inbox or the API).
    ``rows``: the run's requirement rows, read by the caller under the run's lock."""
    row = next((r for r in rows if str(r.id) == req.id), None)
    if row is None:
        return
    if user is not None:
        teams.refuse_if_claimed_by_other(row, user)
    teams.refuse_separation(row, run, req.resolved_by)
    if teams.is_quorum(row) and (req.resolution or {}).get("action") != "reject":
        raise teams.TeamConflict(
            f"This needs {teams.approvals_needed(row)} approvals from distinct people: "
            "approve in the inbox or the API.",
            code="quorum",
        )
