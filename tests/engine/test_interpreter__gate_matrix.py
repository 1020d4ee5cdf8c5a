"""Every primitive's confirmation gate x every decision, top level and nested (one table, fast)."""

import pytest

from workflows.engine import Condition, HumanReview, Loop, Parallel, Router, RunStatus, Step, Steps

from .helpers import make, only

PRIMITIVES = {
    "Step": lambda calls, r: Step(name="n", executor=calls.fn("x"), human_review=r),
    "Steps": lambda calls, r: Steps(name="n", steps=[calls.fn("x")], human_review=r),
    "Loop": lambda calls, r: Loop(name="n", steps=[calls.fn("x")], max_iterations=1, human_review=r),
    "Router": lambda calls, r: Router(name="n", choices=[calls.fn("x")], selector=lambda si: "x", human_review=r),
    "Condition": lambda calls, r: Condition(
        name="n", steps=[calls.fn("x")], else_steps=[calls.fn("e")], human_review=r
    ),
    "Parallel": lambda calls, r: Parallel(calls.fn("x"), name="n", human_review=r),
}
# What runs after a plain reject (the primitive's default on_reject).
DEFAULT_REJECT_RUNS = {"Condition": ["e"]}
WRAPPERS = {
    "top": lambda node: node,
    "in Steps": lambda node: Steps(name="outer", steps=[node]),
    "in Loop": lambda node: Loop(name="outer", steps=[node], max_iterations=1),
    "in Condition": lambda node: Condition(name="outer", steps=[node]),
    "in Parallel": lambda node: Parallel(node, name="outer"),
    "in Router": lambda node: Router(name="outer", choices=[node], selector=lambda si: "n"),
}


def build(calls, kind, where, **review):
    node = PRIMITIVES[kind](calls, HumanReview(requires_confirmation=True, **review))
    return make([calls.fn("before"), WRAPPERS[where](node), calls.fn("after")])


@pytest.mark.parametrize("where", list(WRAPPERS))
@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_confirm_runs_it(calls, kind, where):
    wf = build(calls, kind, where)
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.step_name == "n"
    assert calls.names() == ["before"]
    req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["before", "x", "after"]


@pytest.mark.parametrize("where", list(WRAPPERS))
@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_reject_applies_the_default(calls, kind, where):
    wf = build(calls, kind, where)
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["before", *DEFAULT_REJECT_RUNS.get(kind, []), "after"]


@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_reject_skip(calls, kind):
    wf = build(calls, kind, "in Steps", on_reject="skip")
    out = wf.run()
    only(out.active_requirements).reject()
    assert wf.continue_run(out).status == RunStatus.COMPLETED
    assert calls.names() == ["before", "after"]


@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_reject_cancel(calls, kind):
    wf = build(calls, kind, "in Loop", on_reject="cancel")
    out = wf.run()
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.CANCELLED
    assert out.content == "Workflow cancelled: Step 'n' was rejected"
    assert calls.names() == ["before"]


@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_reject_retry_re_asks_then_runs_on_confirm(calls, kind):
    wf = build(calls, kind, "in Parallel", on_reject="retry")
    out = wf.run()
    only(out.active_requirements).reject("not yet")
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.key.endswith(":confirmation:1")
    assert calls.names() == ["before"]  # a rejected gate never executes its step
    req.confirm()
    assert wf.continue_run(out).status == RunStatus.COMPLETED
    assert calls.names() == ["before", "x", "after"]


@pytest.mark.parametrize("kind", list(PRIMITIVES))
def test_assignment_is_carried(calls, kind):
    wf = build(calls, kind, "top", assignees=("ann",), groups=("ops", "leads"))
    req = only(wf.run().active_requirements)
    assert req.assignees == ["ann"]
    assert req.groups == ["ops", "leads"]
