"""The Django store: every example workflow pauses, is reloaded as another process would, and
completes; rows tell the same story as the engine (SQLite here, PostgreSQL in test-services)."""

import copy

import pytest

from workflows import flows, registry
from workflows.engine import ConflictError, RunStateError, Step, Workflow, keys
from workflows.engine.state import RunState
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.store import DjangoStore

pytestmark = pytest.mark.django_db

APPROVE = {
    "confirmation": lambda r: r.confirm(),
    "user_input": lambda r: r.set_user_input(city="Oslo", days=3),
    "output_review": lambda r: r.confirm(),
    "route_selection": lambda r: r.select(r.available_choices[0]),
    "iteration_review": lambda r: r.confirm(),
    "error": lambda r: r.retry(),
    "executor_confirmation": lambda r: r.confirm(),
    "executor_user_input": lambda r: r.provide_user_input({"amount": 5}),
    "external_execution": lambda r: r.set_external_execution_result("contract #7"),
}


# purchase_approval needs two distinct people: the Python API refuses quorum approvals (see
# tests/workflows/test_services__teams.py); resumed here as every other, with two approvals.
EXAMPLES = sorted(wf.name for wf in vars(flows).values() if isinstance(wf, Workflow) and wf.name != "purchase_approval")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_workflow_resumes_from_the_database(name):
    out = registry.get(name).run("enterprise acme")
    assert out.is_paused
    kinds = set()
    for _ in range(20):
        if not out.is_paused:
            break
        fresh = registry.get(name).get_run_output(out.run_id)  # what another process would load
        assert [r.id for r in fresh.active_requirements] == [r.id for r in out.active_requirements]
        for req in fresh.active_requirements:
            kinds.add(req.kind)
            APPROVE[req.kind](req)
        out = registry.get(name).continue_run(fresh)
    assert out.status == "COMPLETED", (out.status, out.content)
    run = WorkflowRun.objects.get(id=out.run_id)
    assert run.status == "COMPLETED" and run.content == out.content and run.finished_at
    assert not Requirement.objects.filter(run=run, status="PENDING").exists()
    assert Requirement.objects.filter(run=run).count() >= len(kinds)
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # one gap-free log
    assert StepRun.objects.filter(run=run, status="COMPLETED").exists()


def test_stale_output_cannot_be_continued_twice():
    wf = registry.get("data_export")
    out = wf.run("x")
    stale = copy.deepcopy(out)
    out.steps_requiring_confirmation[0].confirm()
    assert wf.continue_run(out).status == "COMPLETED"
    stale.steps_requiring_confirmation[0].confirm()
    with pytest.raises(ConflictError):
        wf.continue_run(stale)
    with pytest.raises(RunStateError):
        wf.continue_run(run_id=out.run_id)
    assert StepRun.objects.filter(run_id=out.run_id, name="export").count() == 1


def test_parallel_branches_pause_independently_in_rows():
    wf = registry.get("release_checks")
    out = wf.run()
    security, legal = out.active_requirements
    assert {security.step_name, legal.step_name} == {"security", "legal"}
    security.confirm()
    out = wf.continue_run(out)
    assert out.is_paused and [r.step_name for r in out.active_requirements] == ["legal"]
    assert StepRun.objects.filter(run_id=out.run_id, name="security").count() == 1
    out.active_requirements[0].confirm()
    out = wf.continue_run(out)
    assert out.status == "COMPLETED" and out.content == "shipped with ['legal', 'security', 'tests']"
    assert StepRun.objects.filter(run_id=out.run_id, name="tests").count() == 1  # never re-ran


def test_recovery_folds_events_written_after_the_snapshot():
    """A worker died mid-run: its last snapshot is older than its events; replay skips done steps."""
    wf = registry.get("onboarding")
    out = wf.run("enterprise")
    run = WorkflowRun.objects.get(id=out.run_id)
    old_snapshot = {"memo": {}, "seq": 0}
    WorkflowRun.objects.filter(id=run.id).update(state=old_snapshot, status="RUNNING", lease_until=None)
    state = DjangoStore().claim(str(run.id), now=run.created_at, recover=True)
    assert isinstance(state, RunState)
    assert state.memo.get(keys.memo(keys.DONE, "0/if/0/steps/0"))  # create_account's output, from the events
    assert state.seq == RunEvent.objects.filter(run=run).count()


@pytest.mark.django_db(transaction=True)
def test_runs_executed_through_the_python_api_tell_open_pages(monkeypatch):
    """Workflow.run() / continue_run() in a shell broadcast as workers do, after commit."""
    from workflows.runtime import broadcast

    sent = []
    monkeypatch.setattr(broadcast, "publish", lambda group, event, *more: sent.extend([(group, event), *more]))
    wf = registry.get("data_export")
    out = wf.run("x")
    (req,) = out.active_requirements
    inbox = [e for g, e in sent if g == broadcast.INBOX_GROUP]
    assert inbox == [{"type": "inbox.changed", "run_ids": [out.run_id], "requirement_ids": [req.id]}]
    assert (broadcast.run_group(out.run_id), {"type": "run.changed", "run_id": out.run_id}) in sent
    sent.clear()
    req.confirm()
    assert wf.continue_run(out).status == "COMPLETED"
    assert [e["requirement_ids"] for g, e in sent if g == broadcast.INBOX_GROUP] == [[req.id]]


@pytest.mark.django_db(transaction=True)
def test_a_running_runs_page_hears_of_each_checkpoint(monkeypatch):
    from workflows.runtime import broadcast

    sent = []
    monkeypatch.setattr(broadcast, "publish", lambda group, event, *more: sent.extend([(group, event), *more]))
    monkeypatch.setattr(broadcast, "_reaches_nobody", lambda layer: False)  # as when this process serves pages
    seen_by_b = []

    def b(step_input):
        seen_by_b.append(list(sent))
        return "b"

    wf = Workflow(
        name="test_store_progress", steps=[Step(name="a", executor=lambda si: "a"), Step(name="b", executor=b)]
    )
    out = wf.run("x")
    page = (broadcast.run_group(out.run_id), {"type": "run.changed", "run_id": out.run_id})
    assert seen_by_b == [[page]]  # a's checkpoint, before b ran
    assert sent.count(page) == 2  # and the end of the run


def test_quorum_example_resumes_from_the_database_after_two_approvals(make_user):
    from workflows import services

    out = registry.get("purchase_approval").run("laptops")
    req = Requirement.objects.get(run_id=out.run_id, status="PENDING")
    for name in ("ann", "ben"):
        services.requirement_resolve(
            requirement_id=req.id, user=make_user(name, "resolve_requirement"), action="confirm"
        )
    services.run_advance(run_id=out.run_id)
    run = WorkflowRun.objects.get(id=out.run_id)
    assert run.status == "COMPLETED" and run.content.startswith("ordered laptops")


def test_a_script_that_serves_no_pages_queues_no_page_refresh_per_step(monkeypatch):
    from channels.layers import InMemoryChannelLayer

    from workflows.runtime import broadcast

    queued = []
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: InMemoryChannelLayer())  # embedded mode's
    monkeypatch.setattr(broadcast, "_serving_loop", None)
    monkeypatch.setattr(broadcast.transaction, "on_commit", lambda fn, *args, **kwargs: queued.append(fn))
    wf = Workflow(
        name="test_store_unheard",
        steps=[Step(name=name, executor=lambda si: "x") for name in ("a", "b", "c")],
    )
    wf.run("x")
    # Embedded mode's in-memory layer, in a process that serves no pages, reaches nobody: a
    # checkpoint does not even queue the per-step refresh; only the run's end is queued (inboxes).
    assert len(queued) == 1
