"""The Django store: the only code that maps engine state to rows and back.

Writes are compare-and-set: a run is claimed under a row lock (one executor at a time, guarded
by a lease), a requirement changes only at the version that was read.

Locks are always taken in the same order, the run row first, then its requirement rows, so that
workers, deciders, cancellers and sweepers never deadlock. The run's ``version`` is the fencing
token of an execution: ``claim`` bumps it, and a worker whose run was handed to another one (it
was presumed dead) finds another version at its next checkpoint and writes nothing.

``lease_until`` says when the sweeper steps in: for a RUNNING run, when its worker's lease runs
out; for a PENDING or PAUSED run, when a continuation that was sent should have been picked up
(``services.runs_recover`` sends it again then).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.models import DateTimeField, JSONField, Max
from django.utils import timezone

from workflows import broadcast
from workflows.engine import events as ev
from workflows.engine import persistence
from workflows.engine.errors import ConflictError, RunNotFoundError, RunStateError
from workflows.engine.interpreter import RunCancelled
from workflows.engine.requirements import CANCELLED, EXPIRED, PENDING
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.engine.state import RunState

from . import hooks, rows, teams
from .models import NO_DATE, Requirement, RunEvent, StepRun, WorkflowRun

log = logging.getLogger("workflows")

TERMINAL = {WorkflowRun.Status.COMPLETED, WorkflowRun.Status.CANCELLED, WorkflowRun.Status.ERROR}


class LeaseLost(ConflictError):
    """The run was handed to another worker (this one was presumed dead); nothing was written."""


class CancelRequested(RunStateError):
    """The run was cancelled while no worker executed it; ``claim`` finished the cancellation."""


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
        found = rows.instances(WorkflowRun, lock=True, skip_locked=skip_locked, id=run_id)
    except (ValueError, DjangoValidationError):
        return None
    return found[0] if found else None


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
        requirements = rows.instances(Requirement, order_by=("seq", "created_at"), run=row.id)
    state.requirements = [requirement_to_engine(r) for r in requirements]
    return state


@functools.cache
def _field_names(model) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and attribute names of the model's concrete fields."""
    fields = model._meta.concrete_fields
    return tuple(f.name for f in fields), tuple(f.attname for f in fields)


@functools.cache
def _claim_ahead_statement(alias: str) -> str:
    """See ``DjangoStore.claim_ahead``. Parameters: RUNNING, lease_until, now, run id.
    Returns a row per requirement of the claimed run (one with NULLs if it has none): the run's
    status and lease_until before the claim (``old``, the row as the statement's snapshot has it:
    a run goes from PENDING to PAUSED or back only through RUNNING, so its status there is the one
    claimed), every column of the run after it, then every column of the requirement. The
    requirements are read in the statement's snapshot too, the one in which none was pending.

    The claim's commit does not wait for the disk (synchronous_commit is off for its transaction
    only): a claim lost in a database crash leaves the run as it was, decided, and the sweeper
    sends it again; the execution's own writes commit synchronously, and flush the claim with them.
    """
    q = connections[alias].ops.quote_name
    run, req = q(WorkflowRun._meta.db_table), q(Requirement._meta.db_table)
    Status = WorkflowRun.Status
    run_columns = [q(f.column) for f in WorkflowRun._meta.concrete_fields]
    returned = ", ".join(f"r.{c}" for c in run_columns)
    selected = ", ".join(
        [f"c.{c}" for c in run_columns] + [f"q.{q(f.column)}" for f in Requirement._meta.concrete_fields]
    )
    return (
        "WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true)),"
        f" c AS (UPDATE {run} AS r SET status = %s, version = r.version + 1, lease_until = %s, updated_at = %s"
        f" FROM {run} AS old WHERE r.id = %s AND old.id = r.id"
        f" AND r.status IN ('{Status.PENDING}', '{Status.PAUSED}') AND r.cancel_requested_by = ''"
        f" AND NOT EXISTS (SELECT FROM {req} WHERE run_id = r.id AND status = '{PENDING}')"
        f" RETURNING old.status AS status_before, old.lease_until AS lease_before, {returned})"
        f" SELECT c.status_before, c.lease_before, {selected}"
        f" FROM c CROSS JOIN cfg LEFT JOIN {req} AS q ON q.run_id = c.id ORDER BY q.seq, q.created_at"
    )


# -- engine -> rows ---------------------------------------------------------------------------
def append_event(run_id, event: str, data: dict, *, step_name: str = "", now: datetime | None = None) -> None:
    """Add an event outside an execution (the caller holds the run's lock). The snapshot's seq
    follows, so the engine's next events never reuse it."""
    seq = (RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0) + 1
    RunEvent.objects.create(
        run_id=run_id, seq=seq, event=event, data=data, step_name=step_name, created_at=now or timezone.now()
    )
    state = WorkflowRun.objects.filter(id=run_id).values_list("state", flat=True).first() or {}
    WorkflowRun.objects.filter(id=run_id).update(state={**state, "seq": seq})


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
    updated = rows.update(
        Requirement,
        {
            "status": req.status,
            "resolution": req.resolution,
            "resolved_at": req.resolved_at,
            "resolved_by_name": req.resolved_by or "",
            "version": req.version,
            "resolved_by": user_id if user_id is not None else _user_id(req.resolved_by),
        },
        id=req.id,
        version=req.version - 1,
    )
    if not updated:
        raise ConflictError("This requirement changed since it was read; nothing was applied.")
    if req.status == EXPIRED:  # hook: a timeout decided it (sweeper, claim, or a late decision)
        hooks.call(hooks.requirement_expired, run_id=req.run_id, requirement_id=req.id)


def _check_team_rules(req: EngineRequirement, run: WorkflowRun, user) -> None:
    """A decision of the Python API obeys the same team rules as the pages and the API: the claim,
    separation of duties; a quorum needs its approvals one by one (the inbox or the API)."""
    row = Requirement.objects.select_related("claimed_by").filter(id=req.id).first()
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


def _user_id(username: str | None):
    if not username or username == persistence.SYSTEM_ACTOR:
        return None
    return get_user_model().objects.filter(username=username).values_list("id", flat=True).first()


def _user(username: str | None):
    if not username or username == persistence.SYSTEM_ACTOR:
        return None
    return get_user_model().objects.filter(username=username).first()


# -- the checkpoint's hot path ----------------------------------------------------------------
# A run checkpoints after every step, so these inserts skip the ORM's per-call query compilation:
# one prepared statement per table, values prepared by the model fields themselves (UUIDs, JSON
# and datetimes come out right on SQLite and PostgreSQL alike).
_REQUIREMENT_FIELDS = (
    "id",
    "run",
    "key",
    "path",
    "step_name",
    "kind",
    "message",
    "payload",
    "iteration",
    "attempt",
    "batch",
    "timeout_at",
    "on_timeout",
    "version",
    "status",
    "resolved_at",
    "resolved_by_name",
    "created_at",
    "seq",
    "workflow_name",
    "is_assigned",
    "unknown_assignment",
    "resolution",
    "resolved_by",
    "priority",
    "priority_rank",
    "due_at",
    "separation_of_duties",
    "approvals_required",
    "approvals_per_group",
    "due_sort",
    "deadline_sort",
)
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


def _event_values(run_id, e) -> tuple:
    return (run_id, e.seq, e.event, e.path or "", e.step_name or "", e.data, e.memo, e.created_at)


def _step_run_values(run_id, s: dict) -> tuple:
    return (
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


def _lock_owner(run_id) -> tuple[int, str] | None:
    """``(version, cancel_requested_by)`` of the run, its row locked to the end of the transaction."""
    found = rows.select(WorkflowRun, ("version", "cancel_requested_by"), lock=True, id=run_id)
    return tuple(found[0]) if found else None


def _fence(state: RunState, owner) -> None:
    """Raise ``LeaseLost`` unless this execution still owns the run (its version is ours)."""
    if owner is None or owner[0] != state.version:
        raise _lease_lost(state)


def _lease_lost(state: RunState) -> LeaseLost:
    return LeaseLost(
        f"Run {state.run_id} was handed to another worker while this one executed it; nothing was written."
    )


def _sqlite_checkpoint(state: RunState) -> bool:
    """The common checkpoint (events and step runs only) on SQLite, outside any transaction:
    written through the DB-API connection in one short IMMEDIATE transaction. Django's cursor
    layers cost more than the write itself here, and a run checkpoints after every step.
    Returns False when the general path must be used."""
    conn = connections[router.db_for_write(RunEvent)]
    if conn.vendor != "sqlite" or conn.in_atomic_block or state.new_requirements or state.dirty_requirements:
        return False
    conn.ensure_connection()
    raw = conn.connection
    run_hex = uuid.UUID(str(state.run_id)).hex  # Django keeps UUIDs as 32 hex chars on SQLite
    raw.execute("BEGIN IMMEDIATE")  # the write lock, to COMMIT: nobody can claim the run meanwhile
    try:
        # The run row is read (fenced) unless nothing was committed to the database since this
        # connection's last checkpoint of this execution: data_version changes when another
        # connection commits, total_changes when this one writes anything else.
        seen = (id(raw), state.run_id, state.version, raw.execute("PRAGMA data_version").fetchone()[0])
        if conn.__dict__.get("_hitl_checkpointed") == (*seen, raw.total_changes):
            cancelled_by = ""
        else:
            row = raw.execute(
                f"SELECT version, cancel_requested_by FROM {WorkflowRun._meta.db_table} WHERE id = ?", (run_hex,)
            ).fetchone()
            _fence(state, row)
            cancelled_by = row[1]
        if state.new_events:
            _sqlite_insert(raw, RunEvent, _EVENT_FIELDS, [_event_values(run_hex, e) for e in state.new_events])
        if state.new_step_runs:
            _sqlite_insert(raw, StepRun, _STEP_RUN_FIELDS, [_step_run_values(run_hex, s) for s in state.new_step_runs])
        raw.execute("COMMIT")
    except BaseException:
        conn.__dict__.pop("_hitl_checkpointed", None)
        raw.execute("ROLLBACK")
        raise
    conn.__dict__["_hitl_checkpointed"] = None if cancelled_by else (*seen, raw.total_changes)
    state.new_events, state.new_step_runs = [], []
    state.__dict__["_cancelled_by"] = cancelled_by
    return True


def _fits_one_statement(state: RunState) -> bool:
    """Whether what the execution has to write fits one statement of ``_write_in_one_statement``:
    on PostgreSQL, nothing but the run row, events and step runs (the common checkpoint and end)."""
    return (
        connections[router.db_for_write(WorkflowRun)].vendor == "postgresql"
        and not state.new_requirements
        and not state.dirty_requirements
    )


def _write_in_one_statement(state: RunState, values: dict, extra=()) -> str:
    """The run row (updated with ``values``; with none, only locked), fenced by this execution's
    version, and the execution's new events and step runs (and ``extra``: ``(model, names, rows)``),
    in one statement: one round trip,
    atomic without a transaction block. Returns the row's ``cancel_requested_by``; raises
    ``LeaseLost`` (nothing written) when the run is no longer this execution's."""
    run_id = state.run_id
    written = rows.write_fenced(
        WorkflowRun,
        values,
        returning=("cancel_requested_by",),
        inserts=[
            (RunEvent, _EVENT_FIELDS, [_event_values(run_id, e) for e in state.new_events]),
            (StepRun, _STEP_RUN_FIELDS, [_step_run_values(run_id, s) for s in state.new_step_runs]),
            *extra,
        ],
        id=run_id,
        version=state.version,
    )
    if not written:
        raise _lease_lost(state)  # a worker presumed dead writes nothing
    state.new_events, state.new_step_runs = [], []
    return written[0][0]


def _sqlite_insert(raw, model, field_names, values) -> None:
    """INSERT ``values`` (tuples in the order of ``field_names``) through the DB-API connection,
    each value as Django's SQLite backend stores it (see :func:`_sqlite_statement`)."""
    sql, adapters = _sqlite_statement(model, field_names)
    adapted = []
    for row in values:
        row = list(row)
        for i, adapt in adapters:
            row[i] = adapt(row[i])
        adapted.append(row)
    raw.executemany(sql, adapted)


@functools.cache
def _sqlite_statement(model, field_names) -> tuple[str, tuple]:
    """The INSERT, and ``(position, adapter)`` of the columns stored otherwise than given: JSON as
    text, datetimes as naive UTC text (the rest as is; UUIDs arrive as hex already)."""
    fields = [model._meta.get_field(n) for n in field_names]
    columns = ", ".join(f.column for f in fields)
    adapters = tuple(
        (i, _json if isinstance(f, JSONField) else _sqlite_dt)
        for i, f in enumerate(fields)
        if isinstance(f, (JSONField, DateTimeField))
    )
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({', '.join(['?'] * len(fields))})", adapters


_encode_json = DjangoJSONEncoder().encode


def _json(value):
    # As JSONField stores it: NULL for None, else json.dumps with Django's encoder.
    return None if value is None else _encode_json(value)


def _sqlite_dt(value):
    # As Django's SQLite backend stores them: naive UTC, str() format.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


class DjangoStore:
    """``workflows.engine.persistence.RunStore`` over the Django ORM.

    The lease of a run it executes is renewed while this process lives, until :meth:`finish`
    (whatever happens there) or :meth:`release`. :meth:`finish` sets ``more_work`` when a
    requirement was decided while the run executed: the caller should advance it again.
    """

    def __init__(self):
        self.more_work = False
        self.finished: RunState | None = None  # the state of the last execution written by finish()
        self._held: set[str] = set()
        self._ahead: dict[str, tuple[RunState, datetime | None]] = {}  # see claim_ahead()

    @property
    def parallel_max_workers(self) -> int | None:
        """How many branches of a Parallel run at once (the engine asks; read when a run starts)."""
        return getattr(settings, "HITL_PARALLEL_MAX_WORKERS", None)

    def thread_done(self) -> None:
        """An async stream's thread is done with the store: close its database connections (they
        belong to that thread, and nothing else would close them)."""
        connections.close_all()

    def _hold(self, state: RunState) -> None:
        heartbeat.hold(state.run_id, state.version)
        self._held.add(state.run_id)

    def _release(self, run_id: str) -> None:
        heartbeat.release(run_id)
        self._held.discard(run_id)

    # -- reading --------------------------------------------------------------------------------
    def load(self, run_id: str) -> RunState:
        try:
            row = WorkflowRun.objects.get(id=run_id)
        except (WorkflowRun.DoesNotExist, ValueError, DjangoValidationError):
            raise RunNotFoundError(f"No run with id {run_id}") from None
        return state_from_row(row)

    # -- writing --------------------------------------------------------------------------------
    def insert(self, state: RunState) -> None:
        if state.new_requirements or state.new_events or state.new_step_runs:
            with transaction.atomic():
                self._create_row(state)
                self._flush(state)
        else:
            self._create_row(state)  # one statement, atomic by itself (the usual case: a new run)
        if state.status == WorkflowRun.Status.RUNNING:
            # Started in this process (Workflow.run), already claimed: the row exists before any
            # operator code runs, so the run is listed, and can be cancelled, while its first step
            # runs; its lease is renewed from now on.
            self._hold(state)

    def _create_row(self, state: RunState) -> None:
        now = timezone.now()
        if state.status == WorkflowRun.Status.RUNNING:
            lease_until = now + lease_duration()
        elif state.status == WorkflowRun.Status.PENDING:  # if no worker claims it by then, send it again
            lease_until = now + requeue_delay()
        else:
            lease_until = None
        values = {
            "id": state.run_id,
            "workflow_name": state.workflow_name,
            "fingerprint": state.fingerprint,
            "status": state.status,
            "input": state.input,
            "additional_data": state.additional_data,
            "state": state.snapshot(),
            "version": state.version,
            "created_by": _user_id(state.created_by),
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
        rows.insert(WorkflowRun, tuple(values), [tuple(values.values())])

    def claim_ahead(self, run_id: str, *, now: datetime) -> RunState | None:
        """Claim, in one statement and before its workflow is known, a run that plainly can go on:
        PENDING, or PAUSED with no requirement pending and no cancel requested (the common
        continuation). The next :meth:`claim` of the run takes it from there, and :meth:`release`
        gives back a claim nobody took. None (nothing claimed) when the run is not that plain, or
        on SQLite: :meth:`claim` then does the whole claim. The state keeps the status the run had
        (what :meth:`claim` checks, and what a give-back restores) until :meth:`claim` takes it."""
        conn = connections[router.db_for_write(WorkflowRun)]
        if conn.vendor != "postgresql" or conn.in_atomic_block:
            return None
        try:
            key = uuid.UUID(str(run_id))
        except ValueError:
            return None
        with rows.hot_cursor(conn) as cursor:
            cursor.execute(
                _claim_ahead_statement(conn.alias),
                [WorkflowRun.Status.RUNNING, now + lease_duration(), now, key],
            )
            found = cursor.fetchall()
        if not found:
            return None
        # Rows as plain attribute bags: state_from_row reads attributes only, and model instances
        # cost more to build than the rest of the claim.
        run_names, run_attnames = _field_names(WorkflowRun)
        req_names, req_attnames = _field_names(Requirement)
        found = rows.converted(WorkflowRun, ("status", "lease_until", *run_names), found)
        found = rows.converted(Requirement, req_names, found, start=2 + len(run_names))
        status_before, lease_before, *values = found[0][: 2 + len(run_names)]
        row = SimpleNamespace(**dict(zip(run_attnames, values, strict=True)))
        requirements = [
            SimpleNamespace(**dict(zip(req_attnames, r[2 + len(run_names) :], strict=True)))
            for r in found
            if r[2 + len(run_names)] is not None  # the run has no requirement (the LEFT JOIN's one row)
        ]
        state = state_from_row(row, fold_events=False, requirements=requirements)
        state.status, state.error, state.lease_until = status_before, None, row.lease_until  # as claim() has it
        self._ahead[state.run_id] = (state, lease_before)
        return state

    def _give_back(self, run_id: str, *, now: datetime) -> None:
        """Undo :meth:`claim_ahead` (the run was refused, or nobody took it): the run is as it was,
        under a new version."""
        state, lease_until = self._ahead.pop(run_id)
        rows.update(
            WorkflowRun,
            {"status": state.status, "version": state.version + 1, "lease_until": lease_until, "updated_at": now},
            id=run_id,
            version=state.version,
        )

    def claim(self, run_id: str, *, now: datetime, check=None, decisions=(), recover: bool = False) -> RunState:
        """Take the run for execution. ``ConflictError``: a live worker holds it; ``RunStateError``:
        nothing to do (finished, nothing decided, or cancelled meanwhile: ``CancelRequested``)."""
        run_id = str(run_id)
        if run_id in self._ahead:
            if decisions or recover:  # not what it was claimed for: the whole claim, from the start
                self._give_back(run_id, now=now)
            else:
                state = self._ahead[run_id][0]
                try:
                    if check is not None:
                        check(state)
                    persistence.check_continuable(state)
                except BaseException:
                    self._give_back(run_id, now=now)
                    raise
                del self._ahead[run_id]
                state.status = WorkflowRun.Status.RUNNING
                self._hold(state)
                return state
        cancelled = None
        with transaction.atomic():
            row = lock_run(run_id)
            if row is None:
                raise RunNotFoundError(f"No run with id {run_id}")
            recovering = row.status == WorkflowRun.Status.RUNNING
            if recovering:
                if not (recover or (row.lease_until is not None and row.lease_until <= now)):
                    raise ConflictError(f"Run {run_id} is being executed by another worker.")
                row.status = WorkflowRun.Status.PENDING  # its worker died: pick up from the checkpoint
            if row.cancel_requested_by and row.is_active:
                # Cancelled while its worker was gone: finish the cancellation, start nothing.
                self.cancel(row, who=row.cancel_requested_by, now=now)
                cancelled = CancelRequested(f"Run {run_id} was cancelled by {row.cancel_requested_by}.")
            else:
                # Only a run whose worker died has events after its snapshot (finish() writes both).
                state = state_from_row(row, fold_events=recovering)
                state.status, state.error = row.status, None  # an error of an earlier refusal is over
                for req in state.requirements:
                    if persistence.is_due(req, now):
                        save_timeout(req, now)
                if check is not None:
                    check(state)
                for req in persistence.apply_decisions(state, decisions, now):
                    # Decisions of the Python API (continue_run): audited like any other.
                    user = _user(req.resolved_by)
                    _check_team_rules(req, row, user)
                    # Compare-and-set: someone else deciding first rolls all back, audit rows too.
                    save_requirement(req, user_id=user.pk if user is not None else None)
                    resolution_recorded(req, user=user, actor=req.resolved_by)
                persistence.check_continuable(state)
                row.status, row.version = WorkflowRun.Status.RUNNING, row.version + 1
                row.lease_until, row.updated_at = now + lease_duration(), now
                rows.update(
                    WorkflowRun,
                    {"status": row.status, "version": row.version, "lease_until": row.lease_until, "updated_at": now},
                    id=row.id,
                )
                state.status, state.version = row.status, row.version
                state.lease_until = row.lease_until
        if cancelled is not None:  # raised after the commit: the cancellation is kept
            raise cancelled
        self._hold(state)
        return state

    def release(self) -> None:
        """Stop renewing the leases this store took (its runs are finished, or lost), and give back
        the runs claimed ahead that were not executed."""
        for run_id in list(self._ahead):
            self._give_back(run_id, now=timezone.now())
        for run_id in list(self._held):
            self._release(run_id)

    def cancel(self, row: WorkflowRun, *, who: str, now: datetime) -> None:
        """Cancel a run that no worker executes (its row locked by the caller), with its pending
        requirements; open pages hear of it once the caller's transaction commits."""
        pending = list(Requirement.objects.select_for_update().filter(run=row, status=PENDING))
        for req_row in pending:
            req = requirement_to_engine(req_row)
            req.status, req.resolved_at, req.resolved_by = CANCELLED, now, who
            req.version += 1
            save_requirement(req)
        row.status, row.content = WorkflowRun.Status.CANCELLED, f"Run cancelled by {who}"
        row.pause_kind = row.paused_step_name = row.paused_step_path = ""
        row.finished_at, row.version, row.lease_until = now, row.version + 1, None
        row.save(
            update_fields=[
                "status",
                "content",
                "pause_kind",
                "paused_step_name",
                "paused_step_path",
                "finished_at",
                "version",
                "lease_until",
                "updated_at",
            ]
        )
        data = {"reason": row.content, "by": who}
        if row.cancel_reason:
            data["cancel_reason"] = row.cancel_reason
        append_event(row.id, ev.WORKFLOW_CANCELLED, data, now=now)
        hooks.call(hooks.run_ended, run_id=row.id, status=row.status)  # hook: the run ended
        broadcast.requirements_changed(row.id, [r.id for r in pending])

    def expire_due(self, run_id, now: datetime) -> list[EngineRequirement]:
        """Apply ``on_timeout`` to the run's pending requirements whose deadline passed."""
        expired = []
        due = Requirement.objects.select_for_update().filter(run_id=run_id, status=PENDING, timeout_at__lte=now)
        for row in due:
            req = requirement_to_engine(row)
            save_timeout(req, now)
            expired.append(req)
        return expired

    def checkpoint(self, state: RunState) -> None:
        if _sqlite_checkpoint(state):
            cancelled_by = state.__dict__.pop("_cancelled_by", "")
        elif _fits_one_statement(state):
            cancelled_by = _write_in_one_statement(state, {})
        else:
            with transaction.atomic():
                owner = _lock_owner(state.run_id)
                _fence(state, owner)  # a worker presumed dead writes nothing
                cancelled_by = owner[1]
                self._flush(state)
        broadcast.run_changed(state.run_id)  # its page shows the step that just completed
        if cancelled_by:  # someone cancelled the running run: nothing after this step starts
            raise RunCancelled(f"Run cancelled by {cancelled_by}")

    def finish(self, state: RunState) -> None:
        try:
            self._finish(state)
            self.finished = state
        finally:  # this execution is over, written or not: its lease is no longer renewed
            self._release(state.run_id)

    def _finish(self, state: RunState) -> None:
        now = timezone.now()
        if state.status in TERMINAL and _fits_one_statement(state):  # the common end of a continuation
            # hook: rows other apps write with the run's end, in the same statement
            extra = hooks.rows(hooks.run_end_rows, run_id=state.run_id, status=state.status)
            _write_in_one_statement(state, _end_values(state, now), extra)
            broadcast.requirements_changed(state.run_id, [r.id for r in state.requirements])
            state.version += 1
            return
        with transaction.atomic():
            # Open pages showing the run or its requirements refresh once this commits (whoever
            # executed it: a worker, or Workflow.run() in a shell).
            broadcast.requirements_changed(state.run_id, [r.id for r in state.requirements])
            # The end state, fenced: written only if this execution still owns the run (its
            # version), which also locks the row. A cancellation that landed meanwhile is read back.
            cancelled_by = self._write_end(state, now, at_version=state.version)
            if cancelled_by is None:
                raise _lease_lost(state)  # a worker presumed dead writes nothing
            if cancelled_by and state.status not in TERMINAL:
                # Cancelled while its last step ran, and the run then paused: cancel it now.
                _cancel_state(state, who=cancelled_by, now=now)
                self._write_end(state, now, at_version=state.version + 1)
            self._flush(state)
            _run_ended(state)
            if state.status == WorkflowRun.Status.PAUSED:
                # A decision or timeout that landed while the run executed: this execution read the
                # requirement as pending, and the decider saw the run RUNNING and sent nothing. The
                # run row lock orders this after any such decider, so it is visible here.
                waited_for = [r.id for r in state.requirements if r.status == PENDING]
                self.more_work = (
                    Requirement.objects.filter(id__in=waited_for).exclude(status=PENDING).exists()
                    if waited_for
                    else False
                )
                if self.more_work:  # the caller goes on; if it dies first, the sweeper sends it
                    rows.update(WorkflowRun, {"lease_until": now + requeue_delay()}, id=state.run_id)
            state.version += 1

    @staticmethod
    def _write_end(state: RunState, now: datetime, *, at_version: int) -> str | None:
        """Write the end of an execution to the run row if its version is ``at_version``: the
        row's ``cancel_requested_by``, or None when the run is no longer this execution's."""
        written = rows.update(
            WorkflowRun,
            _end_values(state, now),
            returning=("cancel_requested_by",),
            id=state.run_id,
            version=at_version,
        )
        return written[0][0] if written else None

    def _flush(self, state: RunState) -> None:
        run_id = state.run_id
        if state.new_requirements:
            self._insert_requirements(run_id, state)
            created = [r.id for r in state.new_requirements if r.status == PENDING]
            if created:  # hook: people are asked something
                hooks.call(hooks.requirements_created, run_id=run_id, requirement_ids=created)
        if state.dirty_requirements:
            by_id = {r.id: r for r in state.requirements}
            for req_id in state.dirty_requirements:
                req = by_id[req_id]
                # The engine only cancels pending requirements; one decided meanwhile stays decided.
                rows.update(
                    Requirement,
                    {"status": req.status, "resolved_at": req.resolved_at, "version": req.version},
                    id=req_id,
                    version=req.version - 1,
                    status=PENDING,
                )
        conn = connections[router.db_for_write(RunEvent)]
        if conn.vendor == "sqlite" and (state.new_events or state.new_step_runs):
            # Through the DB-API connection, in the caller's transaction: an end with durability
            # "pause" writes every event and step run of the execution here, hundreds of rows.
            conn.ensure_connection()
            run_hex = uuid.UUID(str(run_id)).hex
            _sqlite_insert(
                conn.connection, RunEvent, _EVENT_FIELDS, [_event_values(run_hex, e) for e in state.new_events]
            )
            _sqlite_insert(
                conn.connection, StepRun, _STEP_RUN_FIELDS, [_step_run_values(run_hex, s) for s in state.new_step_runs]
            )
        else:
            if state.new_events:
                rows.insert(RunEvent, _EVENT_FIELDS, [_event_values(run_id, e) for e in state.new_events])
            if state.new_step_runs:
                rows.insert(StepRun, _STEP_RUN_FIELDS, [_step_run_values(run_id, s) for s in state.new_step_runs])
        state.new_requirements, state.new_events, state.new_step_runs = [], [], []
        state.dirty_requirements = set()

    def _insert_requirements(self, run_id: str, state: RunState) -> None:
        assigned = [r for r in state.new_requirements if r.assignees or r.groups]
        users, groups = {}, {}
        if assigned:
            users = dict(
                get_user_model()
                .objects.filter(username__in={u for r in assigned for u in r.assignees})
                .values_list("username", "id")
            )
            groups = dict(
                Group.objects.filter(name__in={g for r in assigned for g in r.groups}).values_list("name", "id")
            )
        unknown = {}
        for r in assigned:
            missing = {
                "assignees": [u for u in r.assignees if u not in users],
                "groups": [g for g in r.groups if g not in groups],
            }
            if missing["assignees"] or missing["groups"]:
                # Still restricted to whoever does exist (or to superusers): a typo must not open a
                # requirement to everyone. Shown on the requirement; the system check names it too.
                unknown[r.id] = {key: names for key, names in missing.items() if names}
                log.warning(
                    "requirement %s of run %s (%s): assigned to unknown %s",
                    r.id,
                    run_id,
                    r.step_name,
                    ", ".join(f"{key} {names}" for key, names in unknown[r.id].items()),
                )
        rows.insert(
            Requirement,
            _REQUIREMENT_FIELDS,
            [
                (
                    r.id,
                    run_id,
                    r.key,
                    r.path,
                    r.step_name,
                    r.kind,
                    r.message or "",
                    r.payload,
                    r.iteration,
                    r.attempt,
                    r.batch or "",
                    r.timeout_at,
                    r.on_timeout or "",
                    r.version,
                    # Usually PENDING; CANCELLED when the execution that created it ended (error,
                    # cancel) before writing it.
                    r.status,
                    r.resolved_at,
                    r.resolved_by or "",
                    r.created_at,
                    r.seq,
                    state.workflow_name,
                    bool(r.assignees or r.groups),
                    unknown.get(r.id, {}),
                    None,  # resolution
                    None,  # resolved_by
                    r.team.get("priority", Requirement.Priority.NORMAL),
                    Requirement.PRIORITY_RANKS[r.team.get("priority", Requirement.Priority.NORMAL)],
                    r.due_at,
                    bool(r.team.get("separation_of_duties")),
                    r.team.get("approvals_required", 1),
                    r.team.get("approvals_per_group") or {},
                    min(d for d in (r.due_at, r.timeout_at, NO_DATE) if d is not None),
                    r.timeout_at or NO_DATE,
                )
                for r in state.new_requirements
            ],
        )
        if not assigned:
            return
        user_links, group_links = [], []
        for r in assigned:
            user_links += [
                Requirement.assignees.through(requirement_id=r.id, user_id=users[u]) for u in r.assignees if u in users
            ]
            group_links += [
                Requirement.groups.through(requirement_id=r.id, group_id=groups[g]) for g in r.groups if g in groups
            ]
        Requirement.assignees.through.objects.bulk_create(user_links)
        Requirement.groups.through.objects.bulk_create(group_links)


def _end_values(state: RunState, now: datetime) -> dict:
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


def _run_ended(state: RunState) -> None:
    if state.status in TERMINAL:  # hook: the run ended (in the transaction that wrote its end)
        hooks.call(hooks.run_ended, run_id=state.run_id, status=state.status)


def _cancel_state(state: RunState, *, who: str, now: datetime) -> None:
    """Cancel an execution's state at its end (pending requirements too), as ``cancel`` does rows."""
    for req in state.requirements:
        if req.status == PENDING:
            req.status, req.resolved_at, req.resolved_by = CANCELLED, now, who
            req.version += 1
            state.dirty_requirements.add(req.id)
    state.status, state.content = WorkflowRun.Status.CANCELLED.value, f"Run cancelled by {who}"
    state.pause_kind = state.paused_step_name = state.paused_step_path = None
    state.record(
        ev.Event(
            event=ev.WORKFLOW_CANCELLED, run_id=state.run_id, data={"reason": state.content, "by": who}, created_at=now
        )
    )


def install() -> None:
    """Make ``Workflow.run()`` persist through Django (called from the app's ready())."""
    persistence.set_default_store(DjangoStore())
