"""Errors raised by the engine. Everything derives from :class:`HitlError`."""

from __future__ import annotations


class HitlError(Exception):
    """Base class of every error the engine raises on purpose."""


class DefinitionError(HitlError, ValueError):
    """A workflow definition is invalid (raised when the definition is built)."""


class DecisionError(HitlError, ValueError):
    """A decision does not fit its requirement (wrong action, wrong kind)."""


class ValidationError(DecisionError):
    """A decision's data is invalid. ``errors`` maps a field name to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        lines = "\n".join(f"  - {name}: {msg}" for name, msg in self.errors.items())
        super().__init__(f"Invalid decision:\n{lines}")


class ConflictError(HitlError):
    """The requirement or run changed since it was read: nothing was applied."""


class ExpiredError(ConflictError):
    """The decision came after the requirement's deadline: nothing was applied."""


class RunStateError(HitlError, ValueError):
    """The run cannot do that in its current status (e.g. continue a run that is not paused)."""


class RunCancelled(HitlError):  # noqa: N818 - a signal, not an error
    """The run is cancelled: raised inside the walk (a rejection, a timeout, a cancelled
    requirement) or by a store's checkpoint (someone cancelled the running run). The interpreter
    ends the run as CANCELLED; nothing after the point where it was raised runs."""


class RunNotFoundError(HitlError, LookupError):
    """No run with that id."""


class DefinitionChangedError(HitlError):
    """The workflow definition changed so that a paused run can no longer resume.

    The run is left as it was (still paused): restore the definition, or cancel the run.
    """
