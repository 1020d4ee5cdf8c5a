"""Statements of the run's hot path, written once per model and column list.

A run is claimed, checkpointed and finished many times a second, and for these few statements the
ORM's per-call query compilation costs more than the database does. Here each statement is built
once per (database, model, columns) and cached; on PostgreSQL it is also prepared once per
connection (:func:`hot_cursor`). Values still go through the model fields (``get_db_prep_save`` on
the way in, the backend's and the fields' converters on the way out), so UUIDs, JSON and datetimes
come out exactly as the ORM would give them, on SQLite and PostgreSQL; the rows that
:func:`write_fenced` inserts travel as one JSON document per table instead.

Conditions are equalities on fields, ANDed (never NULL tests): ``select(WorkflowRun, id=run_id)``.
Rows to write are dicts keyed by field name (all rows of one call with the same fields), so a
value can only land in the column it names.
"""

from __future__ import annotations

import json
from datetime import datetime

try:
    import psycopg
except ImportError:  # SQLite only
    psycopg = None

from django.conf import settings
from django.db import connections, router
from django.db.models import DateTimeField, JSONField, UUIDField

_cache: dict = {}


class _PreparingCursor(psycopg.Cursor if psycopg else object):
    """psycopg's server-side binding cursor, its statements prepared on first use."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class _SQLiteCursor:
    """The DB-API cursor of a SQLite connection, for this module's statements. Django's cursor
    rewrites the ``%s`` placeholders of every statement it executes with a regular expression;
    these statements are few and fixed, so each is rewritten once. Errors are raised as Django's
    (as through its cursors). Not used while queries are logged (DEBUG, tests counting them)."""

    _qmark: dict[str, str] = {}

    def __init__(self, conn):
        conn.ensure_connection()
        conn.validate_thread_sharing()
        conn.validate_no_broken_transaction()
        self.db = conn
        self.cursor = conn.connection.cursor()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cursor.close()

    def execute(self, statement: str, params=()):
        query = self._qmark.get(statement)
        if query is None:
            query = self._qmark[statement] = statement.replace("%s", "?")
        with self.db.wrap_database_errors:
            return self.cursor.execute(query, params)

    def fetchall(self):
        return self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


def hot_cursor(conn):
    """A cursor for the statements of this module: on PostgreSQL a server-side binding one whose
    statements are prepared once per connection (parsed and planned once), unless the setting
    HITL_PREPARED_STATEMENTS is off; on SQLite the driver's own (:class:`_SQLiteCursor`).
    Elsewhere, and while queries are logged, ``conn.cursor()``."""
    if conn.vendor == "sqlite" and not conn.queries_logged:
        return _SQLiteCursor(conn)
    if psycopg is None or conn.vendor != "postgresql" or not getattr(settings, "HITL_PREPARED_STATEMENTS", True):
        return conn.cursor()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    if conn.connection.prepare_threshold is None:
        # Django's default: psycopg then prepares nothing, even when asked. A threshold no other
        # statement reaches lets ours be prepared, and only ours (Django's cursors bind on the
        # client side, and those never prepare).
        conn.connection.prepare_threshold = 1 << 30
    raw = _PreparingCursor(conn.connection)
    return conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)


def _conn(model):
    return connections[router.db_for_write(model)]


def _field(model, name):
    return model._meta.get_field(name)


def _where(conn, model, names) -> str:
    return " AND ".join(f"{conn.ops.quote_name(_field(model, n).column)} = %s" for n in names)


def _prep_where(conn, model, where: dict) -> list:
    return [_field(model, n).get_db_prep_value(v, conn) for n, v in where.items()]


def _select_statement(conn, model, names, where_names, order_by, lock, skip_locked):
    key = ("select", conn.alias, model, names, where_names, order_by, lock, skip_locked)
    if key not in _cache:
        table = conn.ops.quote_name(model._meta.db_table)
        fields = [_field(model, n) for n in names]
        columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        sql = f"SELECT {columns} FROM {table} WHERE {_where(conn, model, where_names)}"
        if order_by:
            sql += " ORDER BY " + ", ".join(conn.ops.quote_name(_field(model, n).column) for n in order_by)
        if lock and conn.features.has_select_for_update:
            # NO KEY: our writers serialise without blocking inserts of rows that reference this one.
            sql += " FOR NO KEY UPDATE" if conn.features.has_select_for_no_key_update else " FOR UPDATE"
            if skip_locked:
                sql += " SKIP LOCKED"
        _cache[key] = (sql, _converters(conn, model, fields))
    return _cache[key]


def _converters(conn, model, fields, start: int = 0) -> list:
    """``(position, column, converter functions)`` of the fields whose raw values need converting
    (the ORM's own converters), for rows whose field ``fields[0]`` sits at ``start``."""
    converters = []
    for i, f in enumerate(fields, start):
        col = f.get_col(model._meta.db_table)
        fns = conn.ops.get_db_converters(col) + f.get_db_converters(conn)
        if fns:
            converters.append((i, col, fns))
    return converters


def _convert(conn, rows, converters) -> list:
    if not converters:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i, col, fns in converters:
            value = row[i]
            for fn in fns:
                value = fn(value, col, conn)
            row[i] = value
        out.append(row)
    return out


def select(model, names=None, *, order_by=(), lock=False, skip_locked=False, **where) -> list[tuple]:
    """Rows of ``names`` (default: every concrete field) matching ``where``; ``lock`` locks them
    to the end of the transaction (PostgreSQL; SQLite's IMMEDIATE transactions lock the file)."""
    conn = _conn(model)
    names = tuple(names or (f.name for f in model._meta.concrete_fields))
    sql, converters = _select_statement(conn, model, names, tuple(where), tuple(order_by), lock, skip_locked)
    with hot_cursor(conn) as cursor:
        cursor.execute(sql, _prep_where(conn, model, where))
        rows = cursor.fetchall()
    return _convert(conn, rows, converters)


def instances(model, *, order_by=(), lock=False, skip_locked=False, **where) -> list:
    """Model instances matching ``where``, as the ORM would build them (every concrete field)."""
    fields = model._meta.concrete_fields
    rows = select(model, [f.name for f in fields], order_by=order_by, lock=lock, skip_locked=skip_locked, **where)
    alias = _conn(model).alias
    attnames = [f.attname for f in fields]
    return [model.from_db(alias, attnames, row) for row in rows]


def converted(model, names, rows, *, start: int = 0) -> list:
    """Raw ``rows`` of a statement written elsewhere, their fields ``names`` (from position
    ``start`` on) converted as :func:`select` converts them."""
    conn = _conn(model)
    key = ("converters", conn.alias, model, tuple(names), start)
    if key not in _cache:
        _cache[key] = _converters(conn, model, [_field(model, n) for n in names], start)
    return _convert(conn, rows, _cache[key])


def update(model, values: dict, *, returning=(), **where):
    """``UPDATE ... SET values WHERE where``: the number of rows changed, or with ``returning``
    (field names, raw values) the rows changed."""
    conn = _conn(model)
    key = ("update", conn.alias, model, tuple(values), tuple(where), tuple(returning))
    if key not in _cache:
        fields = [_field(model, n) for n in values]
        sets = ", ".join(f"{conn.ops.quote_name(f.column)} = %s" for f in fields)
        table = conn.ops.quote_name(model._meta.db_table)
        sql = f"UPDATE {table} SET {sets} WHERE {_where(conn, model, tuple(where))}"
        if returning:
            sql += " RETURNING " + ", ".join(conn.ops.quote_name(_field(model, n).column) for n in returning)
        _cache[key] = (sql, fields)
    sql, fields = _cache[key]
    params = [f.get_db_prep_save(v, conn) for f, v in zip(fields, values.values(), strict=True)]
    with hot_cursor(conn) as cursor:
        cursor.execute(sql, params + _prep_where(conn, model, where))
        return cursor.fetchall() if returning else cursor.rowcount


def field_values(rows: list[dict], names: tuple[str, ...]) -> list[list]:
    """The values of ``rows`` (dicts keyed by field name) in the order of ``names``. Every row must
    have exactly the fields ``names``: a missing or unexpected field raises ``ValueError``."""
    expected = set(names)
    for row in rows:
        if row.keys() != expected:
            raise ValueError(f"row fields {sorted(row)} are not {sorted(names)}")
    return [[row[n] for n in names] for row in rows]


MAX_ROWS_PER_INSERT = 16


def insert(model, rows: list[dict]) -> None:
    """``INSERT`` of ``rows`` (dicts keyed by field name): one statement for up to
    MAX_ROWS_PER_INSERT rows (a checkpoint's events), one per batch beyond."""
    if not rows:
        return
    conn = _conn(model)
    names = tuple(rows[0])
    key = ("insert", conn.alias, model, names)
    if key not in _cache:
        fields = [_field(model, n) for n in names]
        columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        table = conn.ops.quote_name(model._meta.db_table)
        _cache[key] = (f"INSERT INTO {table} ({columns}) VALUES ", f"({', '.join(['%s'] * len(fields))})", fields)
    head, one, fields = _cache[key]
    params = [
        [f.get_db_prep_save(v, conn) for f, v in zip(fields, row, strict=True)] for row in field_values(rows, names)
    ]
    with hot_cursor(conn) as cursor:
        for start in range(0, len(params), MAX_ROWS_PER_INSERT):
            batch = params[start : start + MAX_ROWS_PER_INSERT]
            cursor.execute(head + ", ".join([one] * len(batch)), [v for row in batch for v in row])


def write_fenced(model, values: dict, *, returning, inserts, **where) -> list[tuple]:
    """PostgreSQL only, one statement of data-modifying CTEs (one round trip, atomic without a
    transaction block): the ``UPDATE`` of :func:`update` with ``returning`` (with no ``values``, the
    matching rows are only locked and read), and, only if a row matched, the INSERTs of
    ``inserts`` (``(model, rows)`` each, rows as :func:`insert` takes them). Returns the rows that
    matched (none: nothing was written).

    Each table's rows travel as one JSON parameter, expanded by ``jsonb_populate_recordset`` into
    the table's own column types: the statement is the same whatever the number of rows (psycopg
    and PostgreSQL reuse its parsing), and values skip per-value adaptation.
    """
    conn = _conn(model)
    inserts = [(m, tuple(rows[0]), rows) for m, rows in inserts if rows]
    shape = tuple((m, names) for m, names, _ in inserts)
    key = ("write_fenced", conn.alias, model, tuple(values), tuple(where), tuple(returning), shape)
    if key not in _cache:
        q = conn.ops.quote_name
        fields = [_field(model, n) for n in values]
        returned = ", ".join(q(_field(model, n).column) for n in returning)
        table, condition = q(model._meta.db_table), _where(conn, model, tuple(where))
        if fields:
            sets = ", ".join(f"{q(f.column)} = %s" for f in fields)
            ctes = [f"u AS (UPDATE {table} SET {sets} WHERE {condition} RETURNING {returned})"]
        else:
            ctes = [f"u AS (SELECT {returned} FROM {table} WHERE {condition} FOR NO KEY UPDATE)"]
        encoders = []
        for i, (m, names) in enumerate(shape):
            row_fields = [_field(m, n) for n in names]
            columns = ", ".join(q(f.column) for f in row_fields)
            into = q(m._meta.db_table)
            ctes.append(
                f"i{i} AS (INSERT INTO {into} ({columns}) SELECT {columns}"
                f" FROM jsonb_populate_recordset(NULL::{into}, %s::jsonb) WHERE EXISTS (SELECT FROM u))"
            )
            encoders.append(_json_row_encoder(names, row_fields))
        _cache[key] = (f"WITH {', '.join(ctes)} SELECT {returned} FROM u", fields, encoders)
    sql, fields, encoders = _cache[key]
    params = [f.get_db_prep_save(v, conn) for f, v in zip(fields, values.values(), strict=True)]
    params += _prep_where(conn, model, where)
    params += [encode(rows) for encode, (_, _, rows) in zip(encoders, inserts, strict=True)]
    with hot_cursor(conn) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _json_row_encoder(names, fields):
    """A function from rows (dicts keyed by the field names ``names``, of the model fields
    ``fields``) to the JSON array of objects that ``jsonb_populate_recordset`` reads: keys are
    columns; JSON fields stay JSON (encoded as the field encodes them), datetimes and UUIDs become
    their full text forms, the rest is as given."""
    encoder = {f.encoder for f in fields if isinstance(f, JSONField)} - {None}
    if encoder:  # one encoder for the whole document: the fields must agree on it
        raise ValueError("sql.write_fenced: JSON fields with custom encoders are not supported")
    columns = [f.column for f in fields]
    convert = []
    for i, f in enumerate(fields):
        if isinstance(f.target_field if f.is_relation else f, UUIDField):
            convert.append((i, str))
        elif isinstance(f, DateTimeField):
            convert.append((i, datetime.isoformat))

    def encode(rows) -> str:
        objects = []
        for row in field_values(rows, names):
            for i, fn in convert:
                if row[i] is not None:
                    row[i] = fn(row[i])
            objects.append(dict(zip(columns, row, strict=True)))
        return json.dumps(objects)

    return encode
