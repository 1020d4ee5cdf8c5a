"""The delivery queue's statements of a send pass on PostgreSQL, one round trip each: taking the
due deliveries (with their endpoint's secret), reading the runs that ``run.*`` deliveries
describe, and storing the outcomes of the pass.

A pass used to take them in a transaction of four round trips (BEGIN, a locking SELECT, an
UPDATE, COMMIT) and to store its outcomes in another (an UPDATE per kind of outcome, and the run
JSON of first-sent ``run.*`` deliveries in a statement of its own), each built by the ORM. Here
each is one statement, atomic by itself, written once per database and kept (``sql`` builds the
hot path's statements the same way). Elsewhere (SQLite) ``services`` does both through the ORM:
:func:`usable` says which.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.db import connections, router

from workflows.models import RunEvent, WorkflowRun
from workflows.store import sql

from .models import Delivery, WebhookEndpoint

_statements: dict = {}


def _conn():
    return connections[router.db_for_write(Delivery)]


def usable() -> bool:
    return _conn().vendor == "postgresql"


def _fields():
    return Delivery._meta.concrete_fields


def _claim_statement(alias: str, by_ids: bool) -> str:
    """Parameters: PENDING, now, [ids,] limit, the lease's end."""
    key = ("claim", alias, by_ids)
    if key not in _statements:
        q = connections[alias].ops.quote_name
        table, endpoints = q(Delivery._meta.db_table), q(WebhookEndpoint._meta.db_table)
        columns = [q(f.column) for f in _fields()]
        status, due_at, pk, endpoint_id = (
            q(Delivery._meta.get_field(n).column) for n in ("status", "next_attempt_at", "id", "endpoint")
        )
        attempts = q(Delivery._meta.get_field("attempts").column)
        only = f" AND {pk} = ANY(%s)" if by_ids else ""
        # The due rows in order of due time, those another sender holds skipped; then counted an
        # attempt and hidden for the lease, in the same statement; then joined to their endpoint.
        _statements[key] = (
            f"WITH due AS (SELECT {pk} FROM {table} WHERE {status} = %s AND {due_at} <= %s{only}"
            f" ORDER BY {due_at} LIMIT %s FOR UPDATE SKIP LOCKED),"
            f" claimed AS (UPDATE {table} AS d SET {attempts} = d.{attempts} + 1, {due_at} = %s"
            f" FROM due WHERE d.{pk} = due.{pk} RETURNING {', '.join(f'd.{c}' for c in columns)})"
            f" SELECT {', '.join(f'claimed.{c}' for c in columns)}, e.{q('secret')}"
            f" FROM claimed LEFT JOIN {endpoints} AS e ON e.{q('id')} = claimed.{endpoint_id}"
        )
    return _statements[key]


def claim(*, ids, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    """Take up to ``limit`` due deliveries (among ``ids`` if given): each counts an attempt and is
    hidden until ``lease_until``; rows another sender holds are skipped. Their ``endpoint`` is
    the endpoint with its secret only (None when it was deleted)."""
    conn = _conn()
    names = tuple(f.name for f in _fields())
    attnames = [f.attname for f in _fields()]
    params = [Delivery.Status.PENDING, now]
    if ids is not None:
        params.append([Delivery._meta.pk.get_db_prep_value(i, conn) for i in ids])
    params += [limit, lease_until]
    with sql.hot_cursor(conn) as cursor:
        cursor.execute(_claim_statement(conn.alias, ids is not None), params)
        rows = cursor.fetchall()
    rows = sql.converted(Delivery, names, rows)
    deliveries = []
    for row in rows:
        delivery = Delivery.from_db(conn.alias, attnames, row[: len(names)])
        if delivery.endpoint_id is not None:
            delivery.endpoint = WebhookEndpoint.from_db(conn.alias, ["id", "secret"], [delivery.endpoint_id, row[-1]])
        deliveries.append(delivery)
    return deliveries


_RECORDED = ("status", "attempts", "next_attempt_at", "last_error", "response_code", "delivered_at", "payload")


def _record_statement(alias: str) -> str:
    """Parameter: a JSON array of objects, each the id and the ``_RECORDED`` fields of one
    delivery (a null ``next_attempt_at``, ``delivered_at`` or ``payload`` leaves the row's)."""
    key = ("record", alias)
    if key not in _statements:
        q = connections[alias].ops.quote_name
        table = q(Delivery._meta.db_table)
        fields = {n: Delivery._meta.get_field(n) for n in ("id", *_RECORDED)}
        conn = connections[alias]
        types = ", ".join(f"{q(n)} {f.db_type(conn)}" for n, f in fields.items())
        kept = {"next_attempt_at", "delivered_at", "payload"}
        sets = ", ".join(
            f"{q(f.column)} = COALESCE(v.{q(n)}, d.{q(f.column)})" if n in kept else f"{q(f.column)} = v.{q(n)}"
            for n, f in fields.items()
            if n != "id"
        )
        _statements[key] = (
            f"UPDATE {table} AS d SET {sets} FROM jsonb_to_recordset(%s::jsonb) AS v({types})"
            f" WHERE d.{q(fields['id'].column)} = v.{q('id')}"
        )
    return _statements[key]


def record(outcomes: list[dict]) -> None:
    """Store the outcomes of a pass (dicts: ``id`` and the ``_RECORDED`` fields), in one statement."""
    if not outcomes:
        return
    conn = _conn()
    with sql.hot_cursor(conn) as cursor:
        cursor.execute(_record_statement(conn.alias), [json.dumps(outcomes, default=_json_value)])


def _json_value(value):
    """Datetimes in full (DjangoJSONEncoder cuts microseconds), UUIDs as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _runs_statement(alias: str) -> str:
    """Parameter: the run ids. Each run's columns, its creator's user name, and the ``[seq, memo]``
    of the events written after its snapshot (usually none: NULL), in order."""
    key = ("runs", alias)
    if key not in _statements:
        q = connections[alias].ops.quote_name
        User = get_user_model()
        run, event, user = (q(m._meta.db_table) for m in (WorkflowRun, RunEvent, User))
        column = {
            name: q(model._meta.get_field(name).column)
            for model, names in ((WorkflowRun, ("id", "state", "created_by")), (RunEvent, ("run", "seq", "memo")))
            for name in names
        }
        username = q(User._meta.get_field(User.USERNAME_FIELD).column)
        later = (
            f"SELECT json_agg(json_build_array(e.{column['seq']}, e.{column['memo']}) ORDER BY e.{column['seq']})"
            f" FROM {event} AS e WHERE e.{column['run']} = r.{column['id']}"
            f" AND e.{column['seq']} > COALESCE((r.{column['state']} ->> 'seq')::integer, 0)"
        )
        columns = ", ".join(f"r.{q(f.column)}" for f in WorkflowRun._meta.concrete_fields)
        _statements[key] = (
            f"SELECT {columns}, u.{username}, ({later})"
            f" FROM {run} AS r LEFT JOIN {user} AS u ON u.{q(User._meta.pk.column)} = r.{column['created_by']}"
            f" WHERE r.{column['id']} = ANY(%s)"
        )
    return _statements[key]


def runs(run_ids) -> dict:
    """The runs of ``run_ids`` that exist, by id: ``(run, later events)``. The run's ``created_by``
    is the user with its name only; the events (``seq`` and ``memo``) are those written after its
    snapshot, in order, as ``RunState.fold`` takes them."""
    if not run_ids:
        return {}
    conn = _conn()
    User = get_user_model()
    fields = WorkflowRun._meta.concrete_fields
    names, attnames = [f.name for f in fields], [f.attname for f in fields]
    user_attnames = [User._meta.pk.attname, User._meta.get_field(User.USERNAME_FIELD).attname]
    ids = [WorkflowRun._meta.pk.get_db_prep_value(i, conn) for i in run_ids]
    with sql.hot_cursor(conn) as cursor:
        cursor.execute(_runs_statement(conn.alias), [ids])
        rows = cursor.fetchall()
    found = {}
    for row in sql.converted(WorkflowRun, names, rows):
        run = WorkflowRun.from_db(conn.alias, attnames, row[: len(names)])
        username, later = row[len(names)], row[len(names) + 1]
        if run.created_by_id is not None and username is not None:
            run.created_by = User.from_db(conn.alias, user_attnames, [run.created_by_id, username])
        if isinstance(later, str | bytes):
            later = json.loads(later)
        found[run.id] = (run, [SimpleNamespace(seq=seq, memo=memo) for seq, memo in later or ()])
    return found
