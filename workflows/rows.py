"""Statements of the run's hot path, written once per model and column list.

A run is claimed, checkpointed and finished many times a second, and for these few statements the
ORM's per-call query compilation costs more than the database does. Here each statement is built
once per (database, model, columns) and cached. Values still go through the model fields
(``get_db_prep_save`` on the way in, the backend's and the fields' converters on the way out), so
UUIDs, JSON and datetimes come out exactly as the ORM would give them, on SQLite and PostgreSQL.

Conditions are equalities on fields, ANDed (never NULL tests): ``select(WorkflowRun, id=run_id)``.
"""

from __future__ import annotations

from django.db import connections, router

_cache: dict = {}


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
        converters = []
        for i, f in enumerate(fields):
            col = f.get_col(model._meta.db_table)
            fns = conn.ops.get_db_converters(col) + f.get_db_converters(conn)
            if fns:
                converters.append((i, col, fns))
        _cache[key] = (sql, converters)
    return _cache[key]


def select(model, names=None, *, order_by=(), lock=False, skip_locked=False, **where) -> list[tuple]:
    """Rows of ``names`` (default: every concrete field) matching ``where``; ``lock`` locks them
    to the end of the transaction (PostgreSQL; SQLite's IMMEDIATE transactions lock the file)."""
    conn = _conn(model)
    names = tuple(names or (f.name for f in model._meta.concrete_fields))
    sql, converters = _select_statement(conn, model, names, tuple(where), tuple(order_by), lock, skip_locked)
    with conn.cursor() as cursor:
        cursor.execute(sql, _prep_where(conn, model, where))
        rows = cursor.fetchall()
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


def instances(model, *, order_by=(), lock=False, skip_locked=False, **where) -> list:
    """Model instances matching ``where``, as the ORM would build them (every concrete field)."""
    fields = model._meta.concrete_fields
    rows = select(model, [f.name for f in fields], order_by=order_by, lock=lock, skip_locked=skip_locked, **where)
    alias = _conn(model).alias
    attnames = [f.attname for f in fields]
    return [model.from_db(alias, attnames, row) for row in rows]


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
    with conn.cursor() as cursor:
        cursor.execute(sql, params + _prep_where(conn, model, where))
        return cursor.fetchall() if returning else cursor.rowcount


MAX_ROWS_PER_INSERT = 16


def insert(model, names, rows) -> None:
    """``INSERT`` of ``rows`` (tuples of values, in the order of ``names``): one statement for up
    to MAX_ROWS_PER_INSERT rows (a checkpoint's events), one per batch beyond."""
    conn = _conn(model)
    key = ("insert", conn.alias, model, tuple(names))
    if key not in _cache:
        fields = [_field(model, n) for n in names]
        columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        table = conn.ops.quote_name(model._meta.db_table)
        _cache[key] = (f"INSERT INTO {table} ({columns}) VALUES ", f"({', '.join(['%s'] * len(fields))})", fields)
    head, one, fields = _cache[key]
    params = [[f.get_db_prep_save(v, conn) for f, v in zip(fields, row, strict=True)] for row in rows]
    with conn.cursor() as cursor:
        for start in range(0, len(params), MAX_ROWS_PER_INSERT):
            batch = params[start : start + MAX_ROWS_PER_INSERT]
            cursor.execute(head + ", ".join([one] * len(batch)), [v for row in batch for v in row])
