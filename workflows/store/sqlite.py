"""SQLite's short path: a checkpoint's events and step runs written through the DB-API connection.

A run checkpoints after every step, and on SQLite Django's cursor layers cost more than the write
itself. Here the rows go straight to the driver (``sqlite3``), each value stored as Django's
SQLite backend stores it, so the ORM reads them back unchanged.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC
from typing import NamedTuple

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router
from django.db.models import DateTimeField, JSONField

from workflows.engine.state import RunState
from workflows.models import RunEvent, StepRun, WorkflowRun

from . import sql
from .lease import fence
from .mapping import event_row, step_run_row


class _Seen(NamedTuple):
    """What a checkpoint saw of the database, to tell whether anything was committed since."""

    # The DB-API connection itself (data_version is per connection), not its id(): held, it
    # cannot be freed and its address given to a new connection.
    connection: object
    run_id: str
    version: int
    data_version: int  # PRAGMA data_version: changes when another connection commits
    total_changes: int  # changes when this connection writes


class Checkpoints:
    """The common checkpoint on SQLite (events and step runs only), outside any transaction: one
    short IMMEDIATE transaction on the DB-API connection. One per store: it remembers what its
    last checkpoint saw, and skips reading the run row when nothing was committed since."""

    def __init__(self):
        self._last: _Seen | None = None
        self._hex = ("", "")  # a run id, and its column value (Django keeps UUIDs as 32 hex chars)

    def write(self, state: RunState) -> str | None:
        """Write the checkpoint of ``state``: the run's ``cancel_requested_by``, or None when the
        general path must be used (not SQLite, in a transaction, or requirements to write)."""
        conn = connections[router.db_for_write(RunEvent)]
        if conn.vendor != "sqlite" or conn.in_atomic_block or state.new_requirements or state.dirty_requirements:
            return None
        conn.ensure_connection()
        raw = conn.connection
        if self._hex[0] != state.run_id:
            self._hex = (state.run_id, uuid.UUID(str(state.run_id)).hex)
        run_hex = self._hex[1]
        raw.execute("BEGIN IMMEDIATE")  # the write lock, to COMMIT: nobody can claim the run meanwhile
        try:
            # The run row is read (fenced) unless nothing was committed to the database since this
            # store's last checkpoint of this execution, on this connection.
            data_version = raw.execute("PRAGMA data_version").fetchone()[0]
            seen = _Seen(raw, state.run_id, state.version, data_version, raw.total_changes)
            if seen == self._last:
                cancelled_by = ""
            else:
                row = raw.execute(
                    f"SELECT version, cancel_requested_by FROM {WorkflowRun._meta.db_table} WHERE id = ?", (run_hex,)
                ).fetchone()
                fence(state, row)
                cancelled_by = row[1]
            insert(raw, RunEvent, [event_row(run_hex, e) for e in state.new_events])
            insert(raw, StepRun, [step_run_row(run_hex, s) for s in state.new_step_runs])
            raw.execute("COMMIT")
        except BaseException:
            self._last = None
            raw.execute("ROLLBACK")
            raise
        # A cancel requested: the next checkpoint reads the row again (none should come).
        self._last = None if cancelled_by else seen._replace(total_changes=raw.total_changes)
        state.new_events, state.new_step_runs = [], []
        return cancelled_by


def insert(raw, model, rows: list[dict]) -> None:
    """INSERT ``rows`` (dicts keyed by field name, UUIDs as hex) through the DB-API connection
    ``raw``, each value as Django's SQLite backend stores it (see :func:`_statement`)."""
    if not rows:
        return
    names = tuple(rows[0])
    statement, adapters = _statement(model, names)
    values = sql.field_values(rows, names)
    for row in values:
        for i, adapt in adapters:
            row[i] = adapt(row[i])
    raw.executemany(statement, values)


@functools.cache
def _statement(model, names: tuple[str, ...]) -> tuple[str, tuple]:
    """The INSERT, and ``(position, adapter)`` of the columns stored otherwise than given: JSON as
    text, datetimes as naive UTC text (the rest as is; UUIDs arrive as hex already)."""
    fields = [model._meta.get_field(n) for n in names]
    columns = ", ".join(f.column for f in fields)
    adapters = tuple(
        (i, _json if isinstance(f, JSONField) else _datetime)
        for i, f in enumerate(fields)
        if isinstance(f, (JSONField, DateTimeField))
    )
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({', '.join(['?'] * len(fields))})", adapters


_django_json = DjangoJSONEncoder()
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _json(value):
    # NULL for None, else JSON text, values as Django's encoder gives them (dates, decimals,
    # UUIDs...). A checkpoint encodes a few values per step: orjson, three times quicker than the
    # json module here; what it refuses (an integer beyond 64 bits) goes to the json module.
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=_django_json.default, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _django_json.encode(value)


def _datetime(value):
    # As Django's SQLite backend stores them: naive UTC, str() format.
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the engine's clock gives UTC already
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ")
