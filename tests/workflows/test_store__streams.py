"""The engine over the Django store: streamed events are committed when handed out, async
streams run in a thread of their own, Parallel branches run at the same time, and the sweeper
applies on_timeout="reject"."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections

from workflows import services
from workflows.engine import HumanReview, Parallel, RunStatus, Step, Workflow
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun

CALLS: list[str] = []


def _step(name):
    def step(si):
        CALLS.append(name)
        return f"{name}({si.previous_step_content})"

    step.__name__ = name
    return step


def _sleeper(name, seconds=1.0):
    def step(si):
        time.sleep(seconds)
        return name

    step.__name__ = name
    return step


gated = Workflow(
    name="test_stream_gated",
    steps=[
        Step(name="a", executor=_step("a")),
        Step(name="b", executor=_step("b"), human_review=HumanReview(requires_confirmation=True)),
    ],
)
parallel = Workflow(
    name="test_stream_parallel",
    steps=[Parallel(_sleeper("x"), _sleeper("y"), _sleeper("z"), name="p"), Step(name="end", executor=_step("end"))],
)
# The same shape without the sleeps: the connection and its prepared statements are made once
# it ran, so the timed run measures the branches, not the process warming up.
warm_up = Workflow(
    name="test_stream_parallel_warm_up",
    steps=[Parallel(*(_sleeper(n, 0) for n in "xyz"), name="p"), Step(name="end", executor=_step("end"))],
)


def elsewhere(fn):
    """``fn()`` in another thread, on its own database connection: it sees committed rows only."""
    result = []

    def run():
        try:
            result.append(fn())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


async def row_of(**lookup) -> WorkflowRun:
    """The run row, read in a thread that closes its connection (nothing is left open)."""
    return await asyncio.to_thread(elsewhere, functools.partial(WorkflowRun.objects.get, **lookup))


def committed(event) -> bool:
    return elsewhere(lambda: RunEvent.objects.filter(run_id=event.run_id, seq=event.seq).exists())


@pytest.mark.django_db(transaction=True)
def test_every_streamed_event_is_committed_when_handed_out():
    seen = []
    for event in gated.run("go", stream=True):
        assert committed(event), event.event
        seen.append(event.event)
        if event.event == "StepPaused":
            # The requirement is committed; the run is still RUNNING until WorkflowPaused.
            out = elsewhere(functools.partial(gated.get_run_output, event.run_id))
            assert out.status == RunStatus.RUNNING
            assert [r.step_name for r in out.steps_requiring_confirmation] == ["b"]
        if event.event == "WorkflowPaused":
            out = elsewhere(functools.partial(gated.get_run_output, event.run_id))
            assert out.status == RunStatus.PAUSED
    assert seen == ["WorkflowStarted", "StepStarted", "StepCompleted", "StepPaused", "WorkflowPaused"]
    out = gated.get_run_output(event.run_id)
    out.steps_requiring_confirmation[0].confirm()
    for event in gated.continue_run(out, stream=True):
        assert committed(event), event.event
    assert WorkflowRun.objects.get(id=event.run_id).status == "COMPLETED"


@pytest.mark.django_db(transaction=True)
def test_the_run_row_exists_at_workflow_started():
    stream = gated.run("go", stream=True)
    first = next(stream)
    assert first.event == "WorkflowStarted"
    assert elsewhere(lambda: WorkflowRun.objects.filter(id=first.run_id, status="RUNNING").exists())
    for _ in stream:
        pass


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_streams_run_inside_the_event_loop():
    stream = await gated.arun("go", stream=True)
    names = [event.event async for event in stream]
    assert names == ["WorkflowStarted", "StepStarted", "StepCompleted", "StepPaused", "WorkflowPaused"]
    run = await row_of(workflow_name="test_stream_gated")
    assert run.status == "PAUSED"
    out = await gated.aget_run_output(str(run.id))
    out.steps_requiring_confirmation[0].confirm()
    stream = await gated.acontinue_run(out, stream=True)
    names = [event.event async for event in stream]
    assert names[0] == "StepContinued" and names[-1] == "WorkflowCompleted"
    run = await row_of(id=run.id)
    assert run.status == "COMPLETED" and run.content == "b(a(None))"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_async_stream_left_early_still_stores_the_pause():
    stream = await gated.arun("go", stream=True)
    async for event in stream:
        if event.event == "StepStarted":
            break
    await stream.aclose()
    run = await row_of(id=event.run_id)
    assert run.status == "PAUSED"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_branches_run_at_the_same_time_with_the_django_store(stream):
    warm_up.run("go")
    started = time.perf_counter()
    if stream:
        run_id = [e for e in parallel.run("go", stream=True)][-1].run_id
    else:
        run_id = parallel.run("go").run_id
    elapsed = time.perf_counter() - started
    assert elapsed <= 1.2, elapsed
    run = WorkflowRun.objects.get(id=run_id)
    assert run.status == "COMPLETED" and run.content == "end({'x': 'x', 'y': 'y', 'z': 'z'})"
    assert sorted(StepRun.objects.filter(run=run).values_list("name", flat=True)) == ["end", "p", "x", "y", "z"]
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.django_db
def test_the_sweeper_applies_on_timeout_reject(django_capture_on_commit_callbacks, temp_workflow):
    from workflows.runtime import dispatch

    review = HumanReview(requires_confirmation=True, timeout=60, on_timeout="reject", on_reject="cancel")
    timed_reject = temp_workflow(
        Workflow(
            name="test_timed_reject",
            steps=[Step(name="export", executor=_step("export"), human_review=review), _step("after")],
        )
    )
    dispatch.set_backend(lambda run_id: services.run_advance(run_id=run_id))
    try:
        out = timed_reject.run("go")
        req = Requirement.objects.get(run_id=out.run_id)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.requirements_expire_due(now=req.timeout_at + timedelta(seconds=1)) == 1
    finally:
        dispatch.set_backend(None)
    req.refresh_from_db()
    assert req.status == "EXPIRED" and req.resolution == {"action": "timed_out", "on_timeout": "reject"}
    run = WorkflowRun.objects.get(id=out.run_id)
    assert run.status == "CANCELLED" and "was rejected" in run.content


@pytest.mark.django_db(transaction=True)
def test_the_setting_caps_the_branches_running_at_once(settings):
    running, peak, lock = [0], [0], threading.Lock()

    def counted(si):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return si.step_name

    wf = Workflow(
        name="test_parallel_capped",
        steps=[Parallel(*[Step(name=f"b{i}", executor=counted) for i in range(4)], name="p")],
    )
    settings.HITL_PARALLEL_MAX_WORKERS = 2
    assert wf.run().status == RunStatus.COMPLETED
    assert peak[0] == 2
