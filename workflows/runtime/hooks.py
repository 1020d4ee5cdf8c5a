"""Extension points other apps plug into, so that ``workflows`` never imports them.

Each list holds callables that run *inside* the transaction that causes the change (they write
rows that must commit with it, or not at all), called with keyword arguments only. The
``notifications`` app registers its hooks here from its ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# (run_id=, requirement_ids=): pending requirements were written for a run.
requirements_created: list[Callable[..., None]] = []
# (run_id=, requirement_id=): a requirement passed its deadline and the timeout decided it.
requirement_expired: list[Callable[..., None]] = []
# (run_id=, status=): a run ended as COMPLETED, ERROR or CANCELLED.
run_ended: list[Callable[..., None]] = []
# (run_id=, status=) -> [(model, rows, after_commit)]: on PostgreSQL's one-statement end of a run
# (instead of ``run_ended``), rows to insert in that same statement (rows: dicts keyed by field
# name), and a callable (or None) called once they are committed (never if they are not written).
run_end_rows: list[Callable[..., list]] = []
# (now=) -> dict: extra work of each sweep (Celery beat, the in-process sweeper, manage.py sweep).
sweep: list[Callable[..., dict]] = []

# How a decision made in this context came, when not through the inbox or the API (e.g. "link":
# a decide-from-the-message link). The audit row of the decision notes it.
decision_via: ContextVar[str | None] = ContextVar("decision_via", default=None)


def call(hooks: list[Callable[..., None]], **kwargs) -> None:
    for hook in hooks:
        hook(**kwargs)


def rows(hooks: list[Callable[..., list]], **kwargs) -> list:
    return [insert for hook in hooks for insert in hook(**kwargs)]
