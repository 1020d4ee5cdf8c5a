"""Runs started and continued through the Python API (``Workflow.run`` with the Django store):
their row exists before operator code runs, and a reload keeps who started them."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from workflows import selectors, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import WorkflowRun


def _gated(name: str) -> Workflow:
    return Workflow(
        name=name,
        steps=[
            Step(name="prepare", executor=lambda si: "prepared"),
            Step(name="send", executor=lambda si: "sent", human_review=HumanReview(requires_confirmation=True)),
        ],
    )


@pytest.mark.django_db
def test_created_by_survives_get_run_output_and_continue_run(make_user):
    olga = make_user("olga")
    wf = _gated("py_created_by")

    out = wf.run("x", user=olga)
    assert out.is_paused and out.created_by == "olga"

    fresh = _gated("py_created_by").get_run_output(out.run_id)  # as another process loads it
    assert fresh.created_by == "olga"
    fresh.steps_requiring_confirmation[0].confirm()
    done = wf.continue_run(fresh, user=olga)
    assert done.status == "COMPLETED" and done.created_by == "olga"
    assert wf.get_run_output(done.run_id).created_by == "olga"


@pytest.mark.django_db
def test_created_by_of_a_run_started_from_a_page_or_the_api_is_kept_too(operator, temp_workflow, sync_worker):
    wf = temp_workflow(_gated("py_created_by_service"))
    run = services.run_start(workflow_name=wf.name, input="x", user=operator)
    out = wf.get_run_output(str(run.id))
    assert out.created_by == "olga"


@pytest.mark.django_db
def test_the_starters_name_outlives_the_user(make_user):
    olga = make_user("olga")
    wf = _gated("py_created_by_deleted")
    out = wf.run("x", user=olga)
    olga.delete()
    assert wf.get_run_output(out.run_id).created_by == "olga"
    assert WorkflowRun.objects.get(id=out.run_id).created_by is None


@pytest.mark.django_db(transaction=True)
def test_a_python_run_is_stored_running_before_its_first_step_runs_and_can_be_cancelled(operator):
    entered, release = threading.Event(), threading.Event()
    ran_after = []

    def slow(step_input):
        entered.set()
        assert release.wait(10)
        return "slow done"

    wf = Workflow(
        name="py_blocking",
        steps=[Step(name="slow", executor=slow), Step(name="after", executor=lambda si: ran_after.append(1))],
    )
    result = {}

    def start():
        try:
            result["out"] = wf.run("x", user=operator)
        except BaseException as exc:  # reported by the assertions below
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=start)
    thread.start()
    try:
        assert entered.wait(10), "the first step never started"
        # While operator code runs, the run is listed and RUNNING...
        run = WorkflowRun.objects.get(workflow_name="py_blocking")
        assert run.status == WorkflowRun.Status.RUNNING
        assert run.created_by == operator and run.lease_until is not None
        assert selectors.runs_visible_to(operator).filter(id=run.id).exists()
        # ... and can be cancelled: the cancellation takes effect at the next checkpoint.
        services.run_cancel(run_id=run.id, user=operator)
        assert WorkflowRun.objects.get(id=run.id).cancel_requested_by == "olga"
    finally:
        release.set()
        thread.join(10)
    assert "error" not in result, result.get("error")
    out = result["out"]
    assert out.status == "CANCELLED"
    assert ran_after == []  # nothing after the running step started
    run.refresh_from_db()
    assert run.status == WorkflowRun.Status.CANCELLED and run.finished_at is not None
    assert list(run.step_runs.values_list("name", flat=True)) == ["slow"]
