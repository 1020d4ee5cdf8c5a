"""``DjangoStore``: the engine's ``RunStore`` over the Django ORM, and its general write path.

Claims, checkpoints and ends of an execution go through the short paths where they fit
(``sqlite.Checkpoints`` for a checkpoint on SQLite, ``postgres`` for a plain continuation on
PostgreSQL), and through the ORM in one transaction otherwise. Every write of an execution is
fenced by its version (``lease.fence``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, router, transaction
from django.db.models import Max
from django.utils import timezone

from workflows.engine import events as ev
from workflows.engine import persistence
from workflows.engine.errors import ConflictError, RunCancelled, RunNotFoundError, RunStateError
from workflows.engine.requirements import CANCELLED, PENDING
from workflows.engine.requirements import Requirement as EngineRequirement
from workflows.engine.state import RunState
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.runtime import broadcast, hooks

from . import mapping, postgres, sql, sqlite
from .lease import fence, heartbeat, lease_duration, lease_lost, lock_owner, lock_run, requeue_delay
from .mapping import TERMINAL, end_values, event_row, requirement_to_engine, state_from_row, step_run_row
from .resolutions import check_team_rules, resolution_recorded, save_requirement, save_timeout

log = logging.getLogger("workflows")


class CancelRequested(RunStateError):
    """The run was cancelled while no worker executed it; ``claim`` finished the cancellation."""


def append_event(run_id, event: str, data: dict, *, step_name: str = "", now: datetime | None = None) -> None:
    """Add an event outside an execution (the caller holds the run's lock). The snapshot's seq
    follows, so the engine's next events never reuse it."""
    seq = (RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0) + 1
    RunEvent.objects.create(
        run_id=run_id, seq=seq, event=event, data=data, step_name=step_name, created_at=now or timezone.now()
    )
    state = WorkflowRun.objects.filter(id=run_id).values_list("state", flat=True).first() or {}
    WorkflowRun.objects.filter(id=run_id).update(state={**state, "seq": seq})


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
        self._sqlite_checkpoints = sqlite.Checkpoints()

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
        sql.insert(WorkflowRun, [mapping.new_run_row(state, now=now, lease_until=lease_until)])

    def claim_ahead(self, run_id: str, *, now: datetime) -> RunState | None:
        """Claim, in one statement and before its workflow is known, a run that plainly can go on:
        PENDING, or PAUSED with no requirement pending and no cancel requested (the common
        continuation). The next :meth:`claim` of the run takes it from there, and :meth:`release`
        gives back a claim nobody took. None (nothing claimed) when the run is not that plain, or
        off PostgreSQL's short path (see ``postgres``): :meth:`claim` then does the whole claim.
        The state keeps the status the run had (what :meth:`claim` checks, and what a give-back
        restores) until :meth:`claim` takes it."""
        claimed = postgres.claim_ahead(run_id, now=now)
        if claimed is None:
            return None
        state = claimed[0]
        self._ahead[state.run_id] = claimed
        return state

    def _give_back(self, run_id: str, *, now: datetime) -> None:
        """Undo :meth:`claim_ahead` (the run was refused, or nobody took it): the run is as it was,
        under a new version."""
        state, lease_until = self._ahead.pop(run_id)
        sql.update(
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
                requirement_rows = sql.instances(Requirement, order_by=("seq", "created_at"), run=row.id)
                state = state_from_row(row, fold_events=recovering, requirements=requirement_rows)
                state.status, state.error = row.status, None  # an error of an earlier refusal is over
                for req in state.requirements:
                    if persistence.is_due(req, now):
                        save_timeout(req, now)
                if check is not None:
                    check(state)
                for req in persistence.apply_decisions(state, decisions, now):
                    # Decisions of the Python API (continue_run): audited like any other.
                    user = mapping.user(req.resolved_by)
                    check_team_rules(req, row, user, requirement_rows)
                    # Compare-and-set: someone else deciding first rolls all back, audit rows too.
                    save_requirement(req, user_id=user.pk if user is not None else None)
                    resolution_recorded(req, user=user, actor=req.resolved_by)
                persistence.check_continuable(state)
                row.status, row.version = WorkflowRun.Status.RUNNING, row.version + 1
                row.lease_until, row.updated_at = now + lease_duration(), now
                sql.update(
                    WorkflowRun,
                    {"status": row.status, "version": row.version, "lease_until": row.lease_until, "updated_at": now},
                    id=row.id,
                )
                state.status, state.version = row.status, row.version
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
        cancelled_by = self._sqlite_checkpoints.write(state)  # None: SQLite's short path does not fit
        if cancelled_by is None and postgres.fits(state):
            cancelled_by = postgres.write(state, {})
        elif cancelled_by is None:  # the general path
            with transaction.atomic():
                owner = lock_owner(state.run_id)
                fence(state, owner)  # a worker presumed dead writes nothing
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
        if state.status in TERMINAL and postgres.fits(state):  # the common end of a continuation
            # hook: rows other apps write with the run's end, in the same statement
            extra = hooks.rows(hooks.run_end_rows, run_id=state.run_id, status=state.status)
            postgres.write(state, end_values(state, now), [(model, rows) for model, rows, _ in extra])
            for _, _, after_commit in extra:
                if after_commit is not None:
                    # Outside a transaction (a worker) the statement has committed: called at once.
                    transaction.on_commit(after_commit)
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
                raise lease_lost(state)  # a worker presumed dead writes nothing
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
                waited_for = {r.id for r in state.requirements if r.status == PENDING}
                self.more_work = bool(waited_for) and any(
                    str(req_id) in waited_for and status != PENDING
                    for req_id, status in sql.select(Requirement, ("id", "status"), run=state.run_id)
                )
                if self.more_work:  # the caller goes on; if it dies first, the sweeper sends it
                    sql.update(WorkflowRun, {"lease_until": now + requeue_delay()}, id=state.run_id)
            state.version += 1

    @staticmethod
    def _write_end(state: RunState, now: datetime, *, at_version: int) -> str | None:
        """Write the end of an execution to the run row if its version is ``at_version``: the
        row's ``cancel_requested_by``, or None when the run is no longer this execution's."""
        written = sql.update(
            WorkflowRun,
            end_values(state, now),
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
                sql.update(
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
            sqlite.insert(conn.connection, RunEvent, [event_row(run_hex, e) for e in state.new_events])
            sqlite.insert(conn.connection, StepRun, [step_run_row(run_hex, s) for s in state.new_step_runs])
        else:
            sql.insert(RunEvent, [event_row(run_id, e) for e in state.new_events])
            sql.insert(StepRun, [step_run_row(run_id, s) for s in state.new_step_runs])
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
        sql.insert(
            Requirement,
            [
                mapping.requirement_row(
                    r, run_id=run_id, workflow_name=state.workflow_name, unknown_assignment=unknown.get(r.id, {})
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
