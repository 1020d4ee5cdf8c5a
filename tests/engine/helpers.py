"""Shared helpers of the engine tests: a fake clock, recording step functions, shortcuts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.engine import MemoryStore, StepOutput, Workflow

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand: ``clock.advance(seconds)``."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Calls:
    """Makes step functions that record each call (name, StepInput) in ``log``."""

    def __init__(self):
        self.log: list[tuple[str, object]] = []

    def fn(self, name: str, result=None, *, fail: int = 0, error: str = "boom"):
        """A step function named ``name``; it raises ``error`` on its first ``fail`` calls.

        ``result`` is returned as is, or called with the StepInput when callable; by default
        the content is ``"<name>(<previous content>)"``.
        """
        state = {"failures": 0}

        def step(step_input):
            self.log.append((name, step_input))
            if state["failures"] < fail:
                state["failures"] += 1
                raise RuntimeError(error)
            if callable(result):
                return result(step_input)
            if result is not None:
                return result
            return f"{name}({step_input.previous_step_content})"

        step.__name__ = step.__qualname__ = name
        return step

    def names(self) -> list[str]:
        return [name for name, _ in self.log]

    def count(self, name: str) -> int:
        return self.names().count(name)

    def inputs(self, name: str) -> list:
        return [si for n, si in self.log if n == name]

    def last(self, name: str):
        return self.inputs(name)[-1]


def make(steps, name: str = "wf", *, clock: FakeClock | None = None, store: MemoryStore | None = None) -> Workflow:
    """A workflow on a fresh MemoryStore and a fake clock."""
    wf = Workflow(name, steps, store=store or MemoryStore())
    wf.clock = clock or FakeClock()
    return wf


def only(requirements):
    """The single item of ``requirements`` (a list of active requirements)."""
    assert len(requirements) == 1, requirements
    return requirements[0]


def contents(out) -> list:
    return [r.content for r in out.step_results]


def names_of(events) -> list[str]:
    return [e.event for e in events if e.event != "Checkpoint"]


__all__ = ["T0", "Calls", "FakeClock", "StepOutput", "contents", "make", "names_of", "only"]
