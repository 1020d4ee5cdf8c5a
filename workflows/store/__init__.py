"""The Django store: the only code that maps engine state to rows and back.

Writes are compare-and-set: a run is claimed under a row lock (one executor at a time, guarded
by a lease), a requirement changes only at the version that was read. Locks are always taken in
the same order, the run row first, then its requirement rows, so that workers, deciders,
cancellers and sweepers never deadlock.

- ``mapping``: rows <-> engine state, field by field (rows are written from named fields).
- ``lease``: the run row lock, the version that fences an execution, the lease and its heartbeat.
- ``resolutions``: a decision or timeout written to its requirement row, and the hooks told of it.
- ``django_store``: ``DjangoStore``, the engine's ``RunStore``, and its general (ORM) write path.
- ``sqlite``: SQLite's short path for a checkpoint, through the DB-API connection.
- ``postgres``: PostgreSQL's short path for a continuation, a statement per claim, checkpoint and
  end (``HITL_ONE_STATEMENT=0`` switches it off).
- ``sql``: the hand-built hot-path statements all of them use.
"""

from workflows.engine import persistence

from .django_store import CancelRequested, DjangoStore, append_event
from .lease import LeaseLost, heartbeat, lock_run, requeue_delay
from .mapping import requirement_to_engine, state_from_row
from .resolutions import resolution_hooks, resolution_recorded, save_requirement, save_timeout

__all__ = [
    "CancelRequested",
    "DjangoStore",
    "LeaseLost",
    "append_event",
    "heartbeat",
    "install",
    "lock_run",
    "requeue_delay",
    "requirement_to_engine",
    "resolution_hooks",
    "resolution_recorded",
    "save_requirement",
    "save_timeout",
    "state_from_row",
]


def install() -> None:
    """Make ``Workflow.run()`` persist through Django (called from the app's ready())."""
    persistence.set_default_store(DjangoStore())
