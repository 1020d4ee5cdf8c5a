"""PostgreSQL's short path for a worker's continuation: claimed in one statement, each checkpoint
and the end of the execution in one statement each.

It exists for throughput: a plain continuation (decided, nothing new to ask) costs 3 queries
instead of about 25 through the general path, and a worker completes about three times as many
runs per second (``bench/throughput.py``). Whatever does not fit it (requirements to write, a
cancel, a refusal, a transaction already open) takes the general path of ``django_store``.

The setting ``HITL_ONE_STATEMENT`` (environment variable of the same name, ``0`` for off)
switches it off: every claim, checkpoint and end then takes the general path, as on SQLite.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from types import SimpleNamespace

from django.conf import settings
from django.db import connections, router

from workflows.engine.requirements import PENDING
from workflows.engine.state import RunState
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun

from . import sql
from .lease import lease_duration, lease_lost
from .mapping import event_row, field_names, state_from_row, step_run_row


def _connection(model):
    """The model's connection if the short path may take it: PostgreSQL, and the setting on."""
    conn = connections[router.db_for_write(model)]
    if conn.vendor != "postgresql" or not getattr(settings, "HITL_ONE_STATEMENT", True):
        return None
    return conn


def claim_ahead(run_id: str, *, now: datetime) -> tuple[RunState, datetime | None] | None:
    """Claim a plain run in one statement (see ``DjangoStore.claim_ahead``): its state, with the
    status it had, and its ``lease_until`` before the claim; None when nothing was claimed."""
    conn = _connection(WorkflowRun)
    if conn is None or conn.in_atomic_block:  # the claim's commit must be its own
        return None
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        return None
    with sql.hot_cursor(conn) as cursor:
        params = [WorkflowRun.Status.RUNNING, now + lease_duration(), now, key]
        cursor.execute(_claim_ahead_statement(conn.alias), params)
        found = cursor.fetchall()
    if not found:
        return None
    # Rows as plain attribute bags: state_from_row reads attributes only, and model instances
    # cost more to build than the rest of the claim.
    run_names, run_attnames = field_names(WorkflowRun)
    req_names, req_attnames = field_names(Requirement)
    first_req = 2 + len(run_names)  # the columns: status_before, lease_before, the run's, the requirement's
    found = sql.converted(WorkflowRun, ("status", "lease_until", *run_names), found)
    found = sql.converted(Requirement, req_names, found, start=first_req)
    status_before, lease_before, *values = found[0][:first_req]
    row = SimpleNamespace(**dict(zip(run_attnames, values, strict=True)))
    requirements = [
        SimpleNamespace(**dict(zip(req_attnames, r[first_req:], strict=True)))
        for r in found
        if r[first_req] is not None  # the run has no requirement (the LEFT JOIN's one row)
    ]
    state = state_from_row(row, fold_events=False, requirements=requirements)
    state.status, state.error = status_before, None  # as claim() has it
    return state, lease_before


@functools.cache
def _claim_ahead_statement(alias: str) -> str:
    """The claim of :func:`claim_ahead`. Parameters: RUNNING, lease_until, now, run id.

    - ``no_disk_wait``: the claim's commit does not wait for the disk (synchronous_commit is off
      for its transaction only). A claim lost in a database crash leaves the run as it was,
      decided, and the sweeper sends it again; the execution's own writes commit synchronously,
      and flush the claim with them.
    - ``claimed``: the claim itself, if the run plainly can go on: PENDING, or PAUSED with no
      requirement pending and no cancel requested. It returns the run's status and lease_until
      before the claim, from ``old`` (the same row as the statement's snapshot has it: a run goes
      from PENDING to PAUSED or back only through RUNNING, so its status there is the one
      claimed), then every column of the run after the claim.
    - the final SELECT: a row per requirement of the claimed run (one with NULLs if it has none),
      ``claimed``'s columns then every column of the requirement. The requirements are read in
      the statement's snapshot too, the one in which none was pending.
    """
    q = connections[alias].ops.quote_name
    run, req = q(WorkflowRun._meta.db_table), q(Requirement._meta.db_table)
    Status = WorkflowRun.Status
    run_columns = [q(f.column) for f in WorkflowRun._meta.concrete_fields]
    returned = ", ".join(f"r.{c}" for c in run_columns)
    selected = ", ".join(
        [f"claimed.{c}" for c in run_columns] + [f"q.{q(f.column)}" for f in Requirement._meta.concrete_fields]
    )
    no_disk_wait = "SELECT set_config('synchronous_commit', 'off', true)"
    claimed = (
        f"UPDATE {run} AS r SET status = %s, version = r.version + 1, lease_until = %s, updated_at = %s"
        f" FROM {run} AS old WHERE r.id = %s AND old.id = r.id"
        f" AND r.status IN ('{Status.PENDING}', '{Status.PAUSED}') AND r.cancel_requested_by = ''"
        f" AND NOT EXISTS (SELECT FROM {req} WHERE run_id = r.id AND status = '{PENDING}')"
        f" RETURNING old.status AS status_before, old.lease_until AS lease_before, {returned}"
    )
    return (
        f"WITH no_disk_wait AS ({no_disk_wait}), claimed AS ({claimed})"
        f" SELECT claimed.status_before, claimed.lease_before, {selected}"
        f" FROM claimed CROSS JOIN no_disk_wait LEFT JOIN {req} AS q ON q.run_id = claimed.id"
        " ORDER BY q.seq, q.created_at"
    )


def fits(state: RunState) -> bool:
    """Whether what the execution has to write fits one statement of :func:`write`: on
    PostgreSQL, nothing but the run row, events and step runs (the common checkpoint and end)."""
    return _connection(WorkflowRun) is not None and not state.new_requirements and not state.dirty_requirements


def write(state: RunState, values: dict, extra=()) -> str:
    """The run row (updated with ``values``; with none, only locked), fenced by this execution's
    version, and the execution's new events and step runs (and ``extra``: ``(model, rows)`` as
    ``sql.write_fenced`` takes them), in one statement: one round trip, atomic without a
    transaction block. Returns the row's ``cancel_requested_by``; raises ``LeaseLost`` (nothing
    written) when the run is no longer this execution's."""
    run_id = state.run_id
    written = sql.write_fenced(
        WorkflowRun,
        values,
        returning=("cancel_requested_by",),
        inserts=[
            (RunEvent, [event_row(run_id, e) for e in state.new_events]),
            (StepRun, [step_run_row(run_id, s) for s in state.new_step_runs]),
            *extra,
        ],
        id=run_id,
        version=state.version,
    )
    if not written:
        raise lease_lost(state)  # a worker presumed dead writes nothing
    state.new_events, state.new_step_runs = [], []
    return written[0][0]
