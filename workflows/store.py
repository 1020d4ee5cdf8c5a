"""The Django store: the only code that maps engine state to rows and back.

Writes are compare-and-set: a run is claimed under a row lock (one executor at a time, guarded
by a lease), a requirement changes only at the version that was read.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
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


def state_from_row(row: WorkflowRun, *, fold_events: bool = True) -> RunState:
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
    if fold_events:
        state.fold(RunEvent.objects.filter(run_id=row.id, seq__gt=state.seq).order_by("seq").only("seq", "memo"))
    state.requirements = [
        requirement_to_engine(r) for r in Requirement.objects.filter(run_id=row.id).order_by("created_at", "key")
    ]
    return state


# -- engine -> rows ---------------------------------------------------------------------------
def save_requirement(req: EngineRequirement) -> None:
    """Write a decision or timeout made on ``req`` (read at ``req.version - 1``) to its row."""
    updated = Requirement.objects.filter(id=req.id, version=req.version - 1).update(
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


# -- the checkpoint's hot path ----------------------------------------------------------------
# A run checkpoints after every step, so these inserts skip the ORM's per-call query compilation:
# one prepared statement per table, values prepared by the model fields themselves (UUIDs, JSON
# and datetimes come out right on SQLite and PostgreSQL alike).
_EVENT_FIELDS = ("run", "seq", "event", "path", "step_name", "data", "memo", "created_at")
_STEP_RUN_FIELDS = (
    "run",
    "key",
    "path",
    "name",
    "kind",
    "iteration",
    "attempt",
    "status",
    "output",
    "error",
    "started_at",
    "finished_at",
)
_sql_cache: dict = {}


def _insert_rows(model, field_names, rows) -> None:
    conn = connections[router.db_for_write(model)]
    cache_key = (conn.alias, model, field_names)
    if cache_key not in _sql_cache:
        fields = [model._meta.get_field(name) for name in field_names]
        columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        table = conn.ops.quote_name(model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        _sql_cache[cache_key] = (sql, fields)
    sql, fields = _sql_cache[cache_key]
    params = [[f.get_db_prep_save(v, conn) for f, v in zip(fields, row, strict=True)] for row in rows]
    with conn.cursor() as cursor:
        cursor.executemany(sql, params)


def _cancel_requested_by(run_id) -> str:
    conn = connections[router.db_for_read(WorkflowRun)]
    table, column = WorkflowRun._meta.db_table, WorkflowRun._meta.get_field("cancel_requested_by").column
    run_id = WorkflowRun._meta.pk.get_db_prep_value(run_id, conn)
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT {conn.ops.quote_name(column)} FROM {conn.ops.quote_name(table)} WHERE id = %s", [run_id]
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def _sqlite_checkpoint(state: RunState) -> bool:
    """The common checkpoint (events and step runs only) on SQLite, outside any transaction:
    written through the DB-API connection in one short IMMEDIATE transaction. Django's cursor
    layers cost more than the write itself here, and a run checkpoints after every step.
    Returns False when the general path must be used."""
    conn = connections[router.db_for_write(RunEvent)]
    if (
        conn.vendor != "sqlite"
        or conn.in_atomic_block
        or state.new_requirements
        or state.dirty_requirements
        or "_unsaved" in state.__dict__
    ):
        return False
    conn.ensure_connection()
    raw = conn.connection
    run_hex = uuid.UUID(str(state.run_id)).hex  # Django keeps UUIDs as 32 hex chars on SQLite
    raw.execute("BEGIN IMMEDIATE")
    try:
        if state.new_events:
            raw.executemany(
                _sqlite_sql(conn, RunEvent, _EVENT_FIELDS),
                [
                    (
                        run_hex,
                        e.seq,
                        e.event,
                        e.path or "",
                        e.step_name or "",
                        _json(e.data),
                        _json(e.memo),
                        _sqlite_dt(e.created_at),
                    )
                    for e in state.new_events
                ],
            )
        if state.new_step_runs:
            raw.executemany(
                _sqlite_sql(conn, StepRun, _STEP_RUN_FIELDS),
                [
                    (
                        run_hex,
                        s["key"],
                        s["path"],
                        s["name"],
                        s["kind"],
                        s["iteration"],
                        s["attempt"],
                        s["status"],
                        _json(s["output"]),
                        s["error"] or "",
                        _sqlite_dt(s["started_at"]),
                        _sqlite_dt(s["finished_at"]),
                    )
                    for s in state.new_step_runs
                ],
            )
        row = raw.execute(
            f"SELECT cancel_requested_by FROM {WorkflowRun._meta.db_table} WHERE id = ?", (run_hex,)
        ).fetchone()
        raw.execute("COMMIT")
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    state.new_events, state.new_step_runs = [], []
    state.__dict__["_cancelled_by"] = row[0] if row else ""
    return True


def _sqlite_sql(conn, model, field_names) -> str:
    cache_key = ("sqlite-raw", model, field_names)
    if cache_key not in _sql_cache:
        columns = ", ".join(model._meta.get_field(n).column for n in field_names)
        _sql_cache[cache_key] = (
            f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({', '.join(['?'] * len(field_names))})"
        )
    return _sql_cache[cache_key]


def _json(value):
    return None if value is None else json.dumps(value, cls=DjangoJSONEncoder)


def _sqlite_dt(value):
    # As Django's SQLite backend stores them: naive UTC, str() format.
    return None if value is None else str(timezone.make_naive(value, UTC))


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
        if state.status == WorkflowRun.Status.RUNNING:
            # Started in this process (Workflow.run): the row is written with the first checkpoint
            # or with the end of the execution, whichever comes first (one transaction less).
            state.__dict__["_unsaved"] = True
            return
        with transaction.atomic():
            self._create_row(state)
            self._flush(state)

    def _create_row(self, state: RunState, **final) -> None:
        now = timezone.now()
        running = state.status == WorkflowRun.Status.RUNNING
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
            lease_until=now + lease_duration() if running else None,
            **final,
        )

    def claim(self, run_id: str, *, now: datetime, check=None, decisions=(), recover: bool = False) -> RunState:
        with transaction.atomic():
            try:
                row = WorkflowRun.objects.select_for_update().get(id=run_id)
            except (WorkflowRun.DoesNotExist, ValueError, DjangoValidationError):
                raise RunNotFoundError(f"No run with id {run_id}") from None
            recovering = row.status == WorkflowRun.Status.RUNNING
            if recovering:
                if not (recover or (row.lease_until is not None and row.lease_until <= now)):
                    raise ConflictError(f"Run {run_id} is being executed by another worker.")
                row.status = WorkflowRun.Status.PENDING  # its worker died: pick up from the checkpoint
            # Only a run whose worker died has events after its snapshot (finish() writes both).
            state = state_from_row(row, fold_events=recovering)
            state.status = row.status
            for req in state.requirements:
                if persistence.is_due(req, now):
                    persistence.apply_timeout(req, now)
                    save_requirement(req)
            if check is not None:
                check(state)
            for req in persistence.apply_decisions(state, decisions, now):
                save_requirement(req)  # compare-and-set: someone else deciding first rolls all back
            persistence.check_continuable(state)
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
            save_requirement(req)
            expired.append(req)
        return expired

    def checkpoint(self, state: RunState) -> None:
        if not _sqlite_checkpoint(state):
            with transaction.atomic():
                self._flush(state)
                cancelled_by = _cancel_requested_by(state.run_id)
        else:
            cancelled_by = state.__dict__.pop("_cancelled_by", "")
        if cancelled_by:  # someone cancelled the running run: nothing after this step starts
            raise RunCancelled(f"Run cancelled by {cancelled_by}")
        lease = getattr(state, "lease_until", None)
        now = timezone.now()
        if lease is not None and lease - now < lease_duration() / 2:  # renew before it runs out
            state.lease_until = now + lease_duration()
            WorkflowRun.objects.filter(id=state.run_id).update(lease_until=state.lease_until)

    def finish(self, state: RunState) -> None:
        with transaction.atomic():
            now = timezone.now()
            if state.__dict__.pop("_unsaved", False):
                state.version += 1
                self._create_row(
                    state,
                    content=state.content,
                    error=state.error or "",
                    pause_kind=state.pause_kind or "",
                    paused_step_name=state.paused_step_name or "",
                    paused_step_path=state.paused_step_path or "",
                    finished_at=now if state.status in TERMINAL else None,
                )
                self._flush(state)
                return
            self._flush(state)
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
                save_requirement(req)
                expired = ExpiredError("This requirement expired at its deadline; the decision was not applied.")
            else:
                persistence.check_decidable(req, version=version, now=now)
                persistence.apply_decision(req, resolution, actor, now)
                save_requirement(req)
        if expired:  # raised after commit, so the expiry itself is kept
            raise expired
        return req

    def _flush(self, state: RunState) -> None:
        run_id = state.run_id
        if state.__dict__.pop("_unsaved", False):
            self._create_row(state)
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
            _insert_rows(
                RunEvent,
                _EVENT_FIELDS,
                [
                    (run_id, e.seq, e.event, e.path or "", e.step_name or "", e.data, e.memo, e.created_at)
                    for e in state.new_events
                ],
            )
        if state.new_step_runs:
            _insert_rows(
                StepRun,
                _STEP_RUN_FIELDS,
                [
                    (
                        run_id,
                        s["key"],
                        s["path"],
                        s["name"],
                        s["kind"],
                        s["iteration"],
                        s["attempt"],
                        s["status"],
                        s["output"],
                        s["error"] or "",
                        s["started_at"],
                        s["finished_at"],
                    )
                    for s in state.new_step_runs
                ],
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
