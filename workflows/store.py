"""The Django store: the only code that maps engine state to rows and back.

Writes are compare-and-set: a run is claimed under a row lock (one executor at a time, guarded
by a lease), a requirement changes only at the version that was read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from workflows.engine import persistence
from workflows.engine.errors import ConflictError, DecisionError, ExpiredError, RunNotFoundError
from workflows.engine.interpreter import RunCancelled
from workflows.engine.requirements import PENDING
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.engine.state import RunState

from .models import Requirement, RunEvent, StepRun, WorkflowRun

TERMINAL = {WorkflowRun.Status.COMPLETED, WorkflowRun.Status.CANCELLED, WorkflowRun.Status.ERROR}


def lease_duration() -> timedelta:
    return timedelta(seconds=getattr(settings, "HITL_LEASE_SECONDS", 60))


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
    )


def state_from_row(row: WorkflowRun) -> RunState:
    state = RunState(
        run_id=str(row.id),
        workflow_name=row.workflow_name,
        fingerprint=row.fingerprint,
        status=row.status,
        input=row.input,
        additional_data=row.additional_data or {},
        content=row.content,
        error=row.error or None,
        created_by=None,
        pause_kind=row.pause_kind or None,
        paused_step_name=row.paused_step_name or None,
        paused_step_path=row.paused_step_path or None,
        version=row.version,
        created_at=row.created_at,
    )
    state.restore(row.state)
    # Events written after the snapshot (a worker died mid-run) carry the rest of the memo.
    state.fold(RunEvent.objects.filter(run_id=row.id, seq__gt=state.seq).order_by("seq").only("seq", "memo"))
    state.requirements = [
        requirement_to_engine(r) for r in Requirement.objects.filter(run_id=row.id).order_by("created_at", "key")
    ]
    return state


# -- engine -> rows ---------------------------------------------------------------------------
def save_requirement(row: Requirement, req: EngineRequirement) -> None:
    """Write a decision or timeout made on ``req`` (read at ``req.version - 1``) to ``row``."""
    updated = Requirement.objects.filter(id=row.id, version=req.version - 1).update(
        status=req.status,
        resolution=req.resolution,
        resolved_at=req.resolved_at,
        resolved_by_name=req.resolved_by or "",
        version=req.version,
        resolved_by=_user_id(req.resolved_by),
    )
    if not updated:
        raise ConflictError("This requirement changed since it was read; nothing was applied.")


def _user_id(username: str | None):
    if not username or username == persistence.SYSTEM_ACTOR:
        return None
    return get_user_model().objects.filter(username=username).values_list("id", flat=True).first()


class DjangoStore:
    """``workflows.engine.persistence.RunStore`` over the Django ORM."""

    # -- reading --------------------------------------------------------------------------------
    def load(self, run_id: str) -> RunState:
        try:
            row = WorkflowRun.objects.get(id=run_id)
        except (WorkflowRun.DoesNotExist, ValueError, DjangoValidationError):
            raise RunNotFoundError(f"No run with id {run_id}") from None
        return state_from_row(row)

    # -- writing --------------------------------------------------------------------------------
    def insert(self, state: RunState) -> None:
        with transaction.atomic():
            now = timezone.now()
            WorkflowRun.objects.create(
                id=state.run_id,
                workflow_name=state.workflow_name,
                fingerprint=state.fingerprint,
                status=state.status,
                input=state.input,
                additional_data=state.additional_data,
                state=state.snapshot(),
                version=state.version,
                created_by_id=_user_id(state.created_by),
                created_at=state.created_at or now,
                lease_until=now + lease_duration() if state.status == WorkflowRun.Status.RUNNING else None,
            )
            self._flush(state)

    def claim(self, run_id: str, *, now: datetime, check=None, recover: bool = False) -> RunState:
        with transaction.atomic():
            try:
                row = WorkflowRun.objects.select_for_update().get(id=run_id)
            except (WorkflowRun.DoesNotExist, ValueError, DjangoValidationError):
                raise RunNotFoundError(f"No run with id {run_id}") from None
            if row.status == WorkflowRun.Status.RUNNING:
                if not (recover or (row.lease_until is not None and row.lease_until <= now)):
                    raise ConflictError(f"Run {run_id} is being executed by another worker.")
                row.status = WorkflowRun.Status.PENDING  # its worker died: pick up from the checkpoint
            self.expire_due(run_id, now)
            state = state_from_row(row)
            state.status = row.status
            persistence.check_continuable(state)
            if check is not None:
                check(state)
            row.status, row.version = WorkflowRun.Status.RUNNING, row.version + 1
            row.lease_until = now + lease_duration()
            row.save(update_fields=["status", "version", "lease_until", "updated_at"])
            state.status, state.version = row.status, row.version
            state.lease_until = row.lease_until
            return state

    def expire_due(self, run_id, now: datetime) -> list[EngineRequirement]:
        """Apply ``on_timeout`` to the run's pending requirements whose deadline passed."""
        expired = []
        due = Requirement.objects.select_for_update().filter(run_id=run_id, status=PENDING, timeout_at__lte=now)
        for row in due:
            req = requirement_to_engine(row)
            persistence.apply_timeout(req, now)
            save_requirement(row, req)
            expired.append(req)
        return expired

    def checkpoint(self, state: RunState) -> None:
        with transaction.atomic():
            self._flush(state)
            cancelled_by = (
                WorkflowRun.objects.filter(id=state.run_id).values_list("cancel_requested_by", flat=True).first()
            )
            if cancelled_by:  # someone cancelled the running run: nothing after this step starts
                raise RunCancelled(f"Run cancelled by {cancelled_by}")
            lease = getattr(state, "lease_until", None)
            now = timezone.now()
            if lease is not None and lease - now < lease_duration() / 2:  # renew before it runs out
                state.lease_until = now + lease_duration()
                WorkflowRun.objects.filter(id=state.run_id).update(lease_until=state.lease_until)

    def finish(self, state: RunState) -> None:
        with transaction.atomic():
            self._flush(state)
            now = timezone.now()
            WorkflowRun.objects.filter(id=state.run_id).update(
                status=state.status,
                content=state.content,
                error=state.error or "",
                state=state.snapshot(),
                fingerprint=state.fingerprint,
                pause_kind=state.pause_kind or "",
                paused_step_name=state.paused_step_name or "",
                paused_step_path=state.paused_step_path or "",
                version=state.version + 1,
                lease_until=None,
                updated_at=now,
                finished_at=now if state.status in TERMINAL else None,
            )
            state.version += 1

    def resolve(
        self, requirement_id: str, *, resolution: dict, version: int, actor: str | None, now: datetime
    ) -> EngineRequirement:
        expired = None
        with transaction.atomic():
            try:
                row = Requirement.objects.select_for_update().get(id=requirement_id)
            except (Requirement.DoesNotExist, ValueError, DjangoValidationError):
                raise DecisionError(f"No requirement with id {requirement_id}") from None
            req = requirement_to_engine(row)
            if persistence.is_due(req, now):
                persistence.apply_timeout(req, now)
                save_requirement(row, req)
                expired = ExpiredError("This requirement expired at its deadline; the decision was not applied.")
            else:
                persistence.check_decidable(req, version=version, now=now)
                persistence.apply_decision(req, resolution, actor, now)
                save_requirement(row, req)
        if expired:  # raised after commit, so the expiry itself is kept
            raise expired
        return req

    def _flush(self, state: RunState) -> None:
        run_id = state.run_id
        if state.new_requirements:
            self._insert_requirements(run_id, state)
        if state.dirty_requirements:
            by_id = {r.id: r for r in state.requirements}
            for req_id in state.dirty_requirements:
                req = by_id[req_id]
                # The engine only cancels pending requirements; one decided meanwhile stays decided.
                Requirement.objects.filter(id=req_id, version=req.version - 1, status=PENDING).update(
                    status=req.status, resolved_at=req.resolved_at, version=req.version
                )
        if state.new_events:
            RunEvent.objects.bulk_create(
                [
                    RunEvent(
                        run_id=run_id,
                        seq=e.seq,
                        event=e.event,
                        path=e.path or "",
                        step_name=e.step_name or "",
                        data=e.data,
                        memo=e.memo,
                        created_at=e.created_at,
                    )
                    for e in state.new_events
                ]
            )
        if state.new_step_runs:
            StepRun.objects.bulk_create(
                [
                    StepRun(
                        run_id=run_id,
                        key=s["key"],
                        path=s["path"],
                        name=s["name"],
                        kind=s["kind"],
                        iteration=s["iteration"],
                        attempt=s["attempt"],
                        status=s["status"],
                        output=s["output"],
                        error=s["error"] or "",
                        started_at=s["started_at"],
                        finished_at=s["finished_at"],
                    )
                    for s in state.new_step_runs
                ]
            )
        state.new_requirements, state.new_events, state.new_step_runs = [], [], []
        state.dirty_requirements = set()

    def _insert_requirements(self, run_id: str, state: RunState) -> None:
        rows = Requirement.objects.bulk_create(
            [
                Requirement(
                    id=r.id,
                    run_id=run_id,
                    key=r.key,
                    path=r.path,
                    step_name=r.step_name,
                    kind=r.kind,
                    message=r.message or "",
                    payload=r.payload,
                    iteration=r.iteration,
                    attempt=r.attempt,
                    batch=r.batch or "",
                    timeout_at=r.timeout_at,
                    on_timeout=r.on_timeout or "",
                    version=r.version,
                    created_at=r.created_at,
                    workflow_name=state.workflow_name,
                    is_assigned=bool(r.assignees or r.groups),
                )
                for r in state.new_requirements
            ]
        )
        assigned = [(row, r) for row, r in zip(rows, state.new_requirements, strict=True) if r.assignees or r.groups]
        if not assigned:
            return
        users = dict(
            get_user_model()
            .objects.filter(username__in={u for _, r in assigned for u in r.assignees})
            .values_list("username", "id")
        )
        groups = dict(
            Group.objects.filter(name__in={g for _, r in assigned for g in r.groups}).values_list("name", "id")
        )
        user_links, group_links = [], []
        for row, r in assigned:
            user_links += [
                Requirement.assignees.through(requirement_id=row.id, user_id=users[u])
                for u in r.assignees
                if u in users
            ]
            group_links += [
                Requirement.groups.through(requirement_id=row.id, group_id=groups[g]) for g in r.groups if g in groups
            ]
        Requirement.assignees.through.objects.bulk_create(user_links)
        Requirement.groups.through.objects.bulk_create(group_links)


def install() -> None:
    """Make ``Workflow.run()`` persist through Django (called from the app's ready())."""
    persistence.set_default_store(DjangoStore())
