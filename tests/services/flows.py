"""Workflows for the background-execution tests, importable by a Celery worker subprocess
(``HITL_WORKFLOW_MODULES=tests.services.flows``) and registered in the test process by conftest.

Every step is a *probe*: it appends ``start <step> <pid>`` and ``end <step> <pid>`` to a
side-effect file named after the run's ``additional_data["tag"]`` (in ``side_effects_dir()``), so a
test can count how often each step really ran, in whichever process. ``additional_data`` steers it:

- ``sleep``: seconds each step sleeps;
- ``hold``: list of step names that wait, after ``start``, until the test creates their go file
  (``<tag>.<step>.go``), for at most 60 s. A test kills or cancels a run while it waits there.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from workflows.engine import HumanReview, OnTimeout, Parallel, Step, Steps, Workflow

HOLD_LIMIT = 60.0


def side_effects_dir() -> Path:
    path = Path(os.environ.get("HITL_TEST_SIDE_EFFECTS") or Path(tempfile.gettempdir()) / "hitl-test-side-effects")
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(tag: str, line: str) -> None:
    fd = os.open(side_effects_dir() / f"{tag}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
    finally:
        os.close(fd)


def probe(step_input):
    extra = step_input.additional_data or {}
    tag, name = extra.get("tag", "untagged"), step_input.step_name
    record(tag, f"start {name} {os.getpid()}")
    if name in (extra.get("hold") or ()):
        go = side_effects_dir() / f"{tag}.{name}.go"
        deadline = time.monotonic() + HOLD_LIMIT
        while not go.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"step {name} held for more than {HOLD_LIMIT}s")
            time.sleep(0.01)
    if extra.get("sleep"):
        time.sleep(float(extra["sleep"]))
    record(tag, f"end {name} {os.getpid()}")
    return f"{name} done"


def _step(name: str, **review) -> Step:
    return Step(name=name, executor=probe, human_review=HumanReview(**review) if review else None)


sleepy = Workflow(name="test_svc_sleepy", steps=[_step("nap")])

gated = Workflow(
    name="test_svc_gated",
    steps=[_step("a"), _step("b", requires_confirmation=True), _step("c")],
)

# The timeout is long here; tests move ``timeout_at`` to when they want it due.
timed = Workflow(
    name="test_svc_timed",
    steps=[_step("a"), _step("b", requires_confirmation=True, timeout=3600, on_timeout=OnTimeout.skip), _step("c")],
)

# Ten steps, a person confirms s05 before it runs: the crash-recovery workflow.
chain = Workflow(
    name="test_svc_chain",
    steps=[_step(f"s{i:02d}", requires_confirmation=True) if i == 5 else _step(f"s{i:02d}") for i in range(1, 11)],
)

# Branch "x" pauses at once; branch "y" runs two steps meanwhile: x can be decided while y runs.
parallel = Workflow(
    name="test_svc_parallel",
    steps=[
        Parallel(
            _step("x", requires_confirmation=True),
            Steps(name="y", steps=[_step("y1"), _step("y2")]),
            name="both",
        ),
        _step("z"),
    ],
)

# Two distinct people must confirm b (the team races).
quorum = Workflow(
    name="test_svc_quorum",
    steps=[_step("a"), _step("b", requires_confirmation=True, approvals_required=2), _step("c")],
)

ALL = [sleepy, gated, timed, chain, parallel, quorum]
