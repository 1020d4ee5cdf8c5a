"""The active webhook endpoints, kept by each PostgreSQL connection between changes.

The end of every run asks which endpoints listen to it: on a worker, a read per run end, for a
table that hardly ever changes. A connection reads it once and LISTENs on ``CHANNEL``; every change
of an endpoint NOTIFYs that channel, which PostgreSQL delivers to each listening connection when
the change commits, and which drops what that connection kept. Notifications already arrived are
taken from the socket before each use (a non-blocking read, no round trip). One comes moments after
the commit, by itself: a worker, whose run end follows the run's claim (a round trip), sees a change
committed before that claim; an end racing the change may not (as it may not without keeping).

Kept only outside transactions: a read inside one may see the transaction's own uncommitted
changes, and a LISTEN made inside one ends with it if it rolls back. There, and on SQLite, each
call reads the table (one prepared statement).
"""

from __future__ import annotations

from django.db import connections, router

from workflows.store import sql

from .models import WebhookEndpoint

CHANNEL = "hitl_webhook_endpoints"


class _Kept:
    """What one connection keeps: the endpoints, or None once a notification dropped them."""

    def __init__(self, raw):
        self.raw = raw  # the psycopg connection listening (a reconnection needs a new LISTEN)
        self.endpoints: list[tuple] | None = None
        self.generation = 0  # notifications received: a read that straddles one is not kept

    def drop(self, notify) -> None:
        if notify.channel == CHANNEL:
            self.endpoints = None
            self.generation += 1

    def take_notifications(self) -> None:
        pgconn = self.raw.pgconn
        pgconn.consume_input()  # what already arrived; never waits
        while notify := pgconn.notifies():
            pgconn.notify_handler(notify)  # psycopg's dispatch to the connection's handlers


def _read() -> list[tuple]:
    return sql.select(WebhookEndpoint, ("id", "url", "events"), is_active=True)


def active() -> list[tuple]:
    """``(id, url, events)`` of the active endpoints."""
    conn = connections[router.db_for_write(WebhookEndpoint)]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        return _read()
    conn.ensure_connection()
    kept = getattr(conn, "hitl_webhook_endpoints", None)
    if kept is None or kept.raw is not conn.connection:
        kept = conn.hitl_webhook_endpoints = _Kept(conn.connection)
        conn.connection.add_notify_handler(kept.drop)
        with conn.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
    kept.take_notifications()
    if kept.endpoints is not None:
        return kept.endpoints
    generation = kept.generation
    endpoints = _read()
    if generation == kept.generation:  # else a change committed while it was read
        kept.endpoints = endpoints
    return endpoints


def changed(sender, using, **kwargs) -> None:
    """A ``post_save``/``post_delete`` receiver of ``WebhookEndpoint``: tell every connection that
    keeps the endpoints (delivered when the change commits, not at all if it rolls back)."""
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
