"""Async step functions, selectors, evaluators and agents; arun / acontinue_run; plain return values."""

import asyncio

import pytest

from workflows.engine import Condition, HumanReview, Loop, Router, RunStatus, Step, StepOutput

from .helpers import make


async def fetch(si):
    await asyncio.sleep(0)
    return {"rows": [1, 2]}


async def count(si):
    return len(si.previous_step_content["rows"])


def test_async_step_functions(calls):
    out = make([fetch, count]).run()
    assert out.status == RunStatus.COMPLETED
    assert out.content == 2


def test_async_selector_evaluator_and_end_condition(calls):
    async def pick(si):
        return "y"

    async def yes(si):
        return True

    async def stop(outs):
        return True

    wf = make(
        [
            Router(name="r", choices=[calls.fn("x"), calls.fn("y")], selector=pick),
            Condition(name="c", evaluator=yes, steps=[calls.fn("z")]),
            Loop(name="l", steps=[calls.fn("w")], max_iterations=5, end_condition=stop),
        ]
    )
    assert wf.run().status == RunStatus.COMPLETED
    assert calls.names() == ["y", "z", "w"]


def test_async_step_called_from_inside_an_event_loop():
    async def main():
        return make([fetch, count]).run()  # a sync call made from async code

    assert asyncio.run(main()).content == 2


def test_arun_and_acontinue_run(calls):
    wf = make([fetch, Step(name="n", executor=count, human_review=HumanReview(requires_confirmation=True))])

    async def main():
        out = await wf.arun()
        assert out.is_paused
        out.active_requirements[0].confirm()
        return await wf.acontinue_run(out)

    assert asyncio.run(main()).content == 2


@pytest.mark.parametrize(
    ("returned", "content"),
    [("text", "text"), (3, 3), (None, None), ({"a": (1, 2)}, {"a": [1, 2]}), (StepOutput(content="so"), "so")],
)
def test_plain_return_values_become_step_outputs(returned, content):
    out = make([Step(name="s", executor=lambda si: returned)]).run()
    result = out.step_results[0]
    assert isinstance(result, StepOutput)
    assert (result.step_name, result.content, result.success) == ("s", content, True)


def test_unserialisable_content_is_made_storable():
    class Thing:
        def __str__(self):
            return "a thing"

    out = make([Step(name="s", executor=lambda si: {"t": Thing(), "s": {1}})]).run()
    assert out.content == {"t": "a thing", "s": [1]}


def test_step_output_failure_flags_are_kept():
    out = make([Step(name="s", executor=lambda si: StepOutput(content="partial", success=False, error="meh"))]).run()
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].success is False
    assert out.step_results[0].error == "meh"
