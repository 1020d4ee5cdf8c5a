"""State changes of runs and requirements. Every write goes through here.

Each service locks what it changes (``select_for_update``), re-reads and re-checks the status,
changes it, and sends side effects (continuations, broadcasts) only after commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from workflows import broadcast, dispatch, registry
from workflows.engine import persistence
from workflows.engine.errors import (
    ConflictError,
    DefinitionChangedError,
    ExpiredError,
    RunNotFoundError,
    RunStateError,
    ValidationError,
)
from workflows.engine.requirements import clean_decision
from workflows.engine.state import RunState

from . import selectors
from .models import Requirement, RunEvent, WorkflowRun
from .store import DjangoStore, requirement_to_engine, save_requirement, state_from_row

log = logging.getLogger("workflows")

# Called inside the resolving transaction with (requirement=, user=, resolution=, shown=):
# the approvals app records its audit row here, in the same transaction as the decision.
resolution_hooks: list[Callable[..., None]] = []

MAX_INPUT_BYTES = 1_000_000


def _username(user) -> str | None:
    return user.get_username() if user is not None and user.is_authenticated else None


def _check_json(value, field: str) -> None:
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise ValidationError({field: "Must be JSON (text, numbers, lists, objects)."}) from None
    if size > MAX_INPUT_BYTES:
        raise ValidationError({field: f"At most {MAX_INPUT_BYTES} bytes of JSON."})


# -- runs -----------------------------------------------------------------------------------------
def run_start(*, workflow_name: str, input=None, additional_data: dict | None = None, user=None) -> WorkflowRun:
    """Create a run of a registered workflow; a worker executes it after commit."""
    workflow = registry.get(workflow_name)  # WorkflowNotFound
    if additional_data is not None and not isinstance(additional_data, dict):
        raise ValidationError({"additional_data": "Must be an object."})
    _check_json(input, "input")
    _check_json(additional_data or {}, "additional_data")
    state = RunState.new(
        workflow_name=workflow.name,
        fingerprint=workflow.fingerprint,
        input=input,
        additional_data=additional_data,
        created_by=_username(user),
    )
    with transaction.atomic():
        DjangoStore().insert(state)
        dispatch.advance_on_commit(state.run_id)
        broadcast.run_changed(state.run_id)
    return WorkflowRun.objects.get(id=state.run_id)


def run_advance(*, run_id) -> WorkflowRun | None:
    """Execute the run until it pauses or ends (the worker's job). Safe to call twice: a run that
    another worker holds, or that has nothing to do, is left alone."""
    try:
        row = WorkflowRun.objects.only("workflow_name").get(id=run_id)
        workflow = registry.get(row.workflow_name)
    except (WorkflowRun.DoesNotExist, registry.WorkflowNotFound) as exc:
        log.warning("cannot advance run %s: %s", run_id, exc)
        return None
    store = DjangoStore()
    try:
        for _event in workflow._drive(store, str(run_id)):
            pass
    except (ConflictError, RunStateError, RunNotFoundError) as exc:
        log.info("run %s not advanced: %s", run_id, exc)
        return None
    except DefinitionChangedError as exc:
        # The run stays as it was (paused): say why on the run, where operators look.
        WorkflowRun.objects.filter(id=run_id).update(error=str(exc))
        _event_append(run_id, "DefinitionChanged", {"error": str(exc)})
        log.warning("%s", exc)
        return None
    finally:
        _broadcast_run(run_id)
    return WorkflowRun.objects.get(id=run_id)


def _broadcast_run(run_id) -> None:
    ids = Requirement.objects.filter(run_id=run_id).values_list("id", flat=True)
    with transaction.atomic():
        broadcast.requirements_changed(run_id, ids)


def _event_append(run_id, event: str, data: dict, *, step_name: str = "") -> None:
    """Add an event outside an execution; the snapshot's seq follows so the engine never reuses it."""
    with transaction.atomic():
        run = WorkflowRun.objects.select_for_update().only("id", "state").get(id=run_id)
        seq = (RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0) + 1
        RunEvent.objects.create(run_id=run_id, seq=seq, event=event, data=data, step_name=step_name)
        run.state = {**(run.state or {}), "seq": seq}
        run.save(update_fields=["state"])


def run_cancel(*, run_id, user=None) -> WorkflowRun:
    """Cancel a run. A paused or pending run stops now; a running one after its current step."""
    who = _username(user) or persistence.SYSTEM_ACTOR
    with transaction.atomic():
        try:
            row = WorkflowRun.objects.select_for_update().get(id=run_id)
        except (WorkflowRun.DoesNotExist, ValueError, DjangoValidationError):
            raise RunNotFoundError(f"No run with id {run_id}") from None
        if not row.is_active:
            raise RunStateError(f"Cannot cancel a run that is {row.status.lower()}.")
        if row.status == WorkflowRun.Status.RUNNING:
            row.cancel_requested_by = who
            row.save(update_fields=["cancel_requested_by", "updated_at"])
        else:
            now = timezone.now()
            pending = list(Requirement.objects.select_for_update().filter(run=row, status=Requirement.Status.PENDING))
            for req_row in pending:
                req = requirement_to_engine(req_row)
                req.status, req.resolved_at, req.resolved_by = "CANCELLED", now, who
                req.version += 1
                save_requirement(req)
            row.status, row.content = WorkflowRun.Status.CANCELLED, f"Run cancelled by {who}"
            row.pause_kind = row.paused_step_name = row.paused_step_path = ""
            row.finished_at, row.version = now, row.version + 1
            row.save(
                update_fields=[
                    "status",
                    "content",
                    "pause_kind",
                    "paused_step_name",
                    "paused_step_path",
                    "finished_at",
                    "version",
                    "updated_at",
                ]
            )
            seq = (RunEvent.objects.filter(run=row).aggregate(m=Max("seq"))["m"] or 0) + 1
            RunEvent.objects.create(
                run=row, seq=seq, event="WorkflowCancelled", data={"reason": row.content, "by": who}
            )
            broadcast.requirements_changed(row.id, [r.id for r in pending])
        broadcast.run_changed(row.id)
    return row


# -- requirements ---------------------------------------------------------------------------------
def requirement_resolve(
    *,
    requirement_id,
    user,
    action: str,
    data: dict | None = None,
    version: int | None = None,
    now: datetime | None = None,
) -> Requirement:
    """Apply one person's decision, exactly once.

    Compare-and-set on status + version in the transaction that schedules the continuation.
    Raises ``Requirement.DoesNotExist`` (unknown or not visible to ``user``), ``ConflictError``
    (already decided or stale version), ``ExpiredError`` (past its deadline: the timeout applies
    instead), ``DecisionError`` / ``ValidationError`` (bad action or data). Nothing changes then.
    """
    now = now or timezone.now()
    expired = False
    with transaction.atomic():
        try:
            row = Requirement.objects.select_for_update().get(
                id=requirement_id, id__in=selectors.requirements_visible_to(user).values("id")
            )
        except (Requirement.DoesNotExist, ValueError, DjangoValidationError):
            raise Requirement.DoesNotExist("No such requirement.") from None
        req = requirement_to_engine(row)
        if persistence.is_due(req, now):
            persistence.apply_timeout(req, now)
            save_requirement(req)
            _after_change(row)
            expired = True
        else:
            persistence.check_decidable(req, version=version, now=now)
            resolution = clean_decision(req, action, data)
            shown = dict(row.payload or {})
            persistence.apply_decision(req, resolution, _username(user), now)
            save_requirement(req)
            row.refresh_from_db()
            for hook in resolution_hooks:
                hook(requirement=row, user=user, resolution=resolution, shown=shown)
            _after_change(row)
    if expired:  # after commit: the expiry is kept, the late decision is refused
        raise ExpiredError("This requirement expired at its deadline; the timeout decided it.")
    return row


def _after_change(row: Requirement) -> None:
    """Schedule the run when it has everything it waits for; refresh pages either way."""
    broadcast.requirements_changed(row.run_id, [row.id])
    run = WorkflowRun.objects.get(id=row.run_id)
    if run.status != WorkflowRun.Status.PAUSED:
        return
    try:
        persistence.check_continuable(state_from_row(run))
    except RunStateError:
        return  # e.g. other tool calls of the same agent turn still wait
    dispatch.advance_on_commit(run.id)


def requirement_check_access(*, requirement: Requirement, user) -> None:
    if not selectors.user_may_resolve(user, requirement):
        raise PermissionDenied


# -- the sweeper ----------------------------------------------------------------------------------
def requirements_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply ``on_timeout`` to due requirements (rows another sweeper holds are skipped)."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        due = list(
            Requirement.objects.select_for_update(skip_locked=True)
            .filter(status=Requirement.Status.PENDING, timeout_at__lte=now)
            .order_by("timeout_at")[:limit]
        )
        for row in due:
            req = requirement_to_engine(row)
            persistence.apply_timeout(req, now)
            save_requirement(req)
            _after_change(row)
            count += 1
    return count


def runs_recover(*, now: datetime | None = None) -> int:
    """Send again runs that have work and no worker: a worker died (lease expired), a run was
    created or decided while the broker was down, or a continuation was lost."""
    now = now or timezone.now()
    stale = WorkflowRun.objects.filter(status=WorkflowRun.Status.RUNNING, lease_until__lt=now)
    waiting = WorkflowRun.objects.filter(status=WorkflowRun.Status.PENDING, updated_at__lt=now - _GRACE)
    ids = list(stale.values_list("id", flat=True)) + list(waiting.values_list("id", flat=True))
    ready = WorkflowRun.objects.filter(
        status=WorkflowRun.Status.PAUSED,
        requirements__status__in=["RESOLVED", "EXPIRED"],
        requirements__resolved_at__range=(now - _LOOKBACK, now - _GRACE),
    ).distinct()
    for run in ready:
        try:
            persistence.check_continuable(state_from_row(run))
        except RunStateError:
            continue
        ids.append(run.id)
    for run_id in ids:
        dispatch._send_quietly(str(run_id))
    return len(ids)


_GRACE = timedelta(seconds=10)
_LOOKBACK = timedelta(days=7)


def sweep(*, now: datetime | None = None) -> dict:
    return {"expired": requirements_expire_due(now=now), "recovered": runs_recover(now=now)}
