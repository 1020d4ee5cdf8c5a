"""The models' choices are the engine's names: built from its constants, and tied here where the
engine has none (a step attempt's status is written by the interpreter)."""

from __future__ import annotations

from workflows.engine import HumanReview, MemoryStore, Step, Workflow
from workflows.engine.primitives import PRIORITIES, RunStatus
from workflows.engine.requirements import KINDS, REQUIREMENT_STATUSES
from workflows.models import Requirement, StepRun, WorkflowRun


def test_run_requirement_and_priority_choices_are_the_engines():
    assert WorkflowRun.Status.values == [status.value for status in RunStatus]
    assert Requirement.Kind.values == list(KINDS)
    assert Requirement.Status.values == list(REQUIREMENT_STATUSES)
    assert Requirement.Priority.values == list(PRIORITIES)
    assert list(Requirement.PRIORITY_RANKS) == list(PRIORITIES)


def test_step_run_choices_are_the_statuses_the_engine_writes():
    def fails(step_input):
        raise RuntimeError("kaput")

    store = MemoryStore()
    workflow = Workflow(
        name="choices_steps",
        store=store,
        steps=[
            Step(name="done", executor=lambda si: "ok"),
            Step(name="fails", executor=fails, human_review=HumanReview(on_error="pause")),
            Step(
                name="reviewed",
                executor=lambda si: "draft",
                human_review=HumanReview(requires_output_review=True, on_reject="retry"),
            ),
        ],
    )
    out = workflow.run()
    out.active_requirements[0].skip()
    out = workflow.continue_run(out)
    out.active_requirements[0].reject("no")
    workflow.continue_run(out)
    written = {row["status"] for row in store.step_runs[out.run_id]}
    assert written == set(StepRun.Status.values)
