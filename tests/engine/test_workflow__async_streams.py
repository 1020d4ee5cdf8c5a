"""arun / acontinue_run with stream=True give async iterators that work inside a running loop."""

import asyncio

import pytest

from workflows.engine import HumanReview, RunStatus, Step

from .helpers import make

pytestmark = pytest.mark.asyncio


def gated(calls):
    return [calls.fn("a"), Step(name="b", executor=calls.fn("b"), human_review=HumanReview(requires_confirmation=True))]


async def test_arun_stream_is_an_async_iterator(calls, memory_store):
    wf = make(gated(calls), store=memory_store)
    stream = await wf.arun("go", stream=True)
    names = [event.event async for event in stream]
    assert names == ["WorkflowStarted", "StepStarted", "StepCompleted", "StepPaused", "WorkflowPaused"]
    out = await wf.aget_run_output(memory_store.load(next(iter(memory_store.events))).run_id)
    assert out.status == RunStatus.PAUSED
    out.steps_requiring_confirmation[0].confirm()
    stream = await wf.acontinue_run(out, stream=True)
    names = [event.event async for event in stream]
    assert names == ["StepContinued", "StepStarted", "StepCompleted", "WorkflowCompleted"]
    assert (await wf.aget_run_output(out.run_id)).content == "b(a(None))"


async def test_the_loop_keeps_running_while_a_step_blocks(memory_store):
    import time

    def slow(si):
        time.sleep(0.3)
        return "done"

    wf = make([slow], store=memory_store)
    ticks = []

    async def ticker():
        for _ in range(5):
            ticks.append(1)
            await asyncio.sleep(0.02)

    tick = asyncio.create_task(ticker())
    stream = await wf.arun(stream=True)
    names = [event.event async for event in stream]
    during = len(ticks)  # the ticker ran while the step slept in the stream's thread
    await tick
    assert names[-1] == "WorkflowCompleted" and during == 5
