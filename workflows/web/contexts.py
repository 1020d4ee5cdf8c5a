"""What a run page shows a user: built once here for the page (``views``) and for the socket that
re-renders its live part (``consumers``), so a push equals a reload."""

from __future__ import annotations

from django.db.models.functions import Coalesce

from workflows import registry, selectors, services
from workflows.engine.jsonvalues import edit_diff, pretty_json
from workflows.models import AssignmentChange, Requirement, StepRun, WorkflowRun

from . import graph
from .forms import RunStartForm

HIDDEN_EVENTS = ("Checkpoint",)


def _edit_diff(req: Requirement) -> str:
    """The diff of an edit (the output shown and the output a reviewer saved, or the tool arguments
    the agent asked for and the ones a reviewer confirmed) as the audit row holds it, without the
    file names: the page's caption names both sides."""
    resolution = req.resolution or {}
    if resolution.get("action") != "edit":
        return ""
    field = "args" if "args" in resolution else "output"
    lines = edit_diff((req.payload or {}).get(field), resolution.get(field)).splitlines()
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def run_live_context(*, user, run: WorkflowRun) -> dict:
    """What the ``run-live`` partial of ``workflows/run_detail.html`` needs, for ``user``.

    A live-update consumer renders the same partial with this context (ids-only broadcasts).
    """
    step_runs = run.step_runs.order_by(Coalesce("started_at", "finished_at"), "id")
    requirements = list(selectors.requirements_inspectable_by(user).filter(run=run).order_by("created_at", "key"))
    resolvable = set(selectors.requirements_pending_for(user).filter(run=run).values_list("id", flat=True))
    for req in requirements:
        req.may_resolve = req.id in resolvable
        req.edit_diff = _edit_diff(req)
        details = {k: v for k, v in (req.resolution or {}).items() if k not in ("action", "output")}
        req.resolution_details = details
    hidden = {str(i) for i in run.requirements.values_list("id", flat=True)} - {str(r.id) for r in requirements}
    events = list(run.events.exclude(event__in=HIDDEN_EVENTS).defer("memo").order_by("seq"))
    for event in events:
        if hidden and str((event.data or {}).get("requirement_id")) in hidden:
            # A requirement the user may not see: say that the run paused or went on, not what or who.
            event.data = {key: event.data[key] for key in ("requirement_id", "kind") if key in event.data}
    step_runs = [_with_depth(s) for s in step_runs]
    return {
        "run": run,
        "graph": _run_graph(run, step_runs, requirements, events),
        "rerun_form": rerun_form(run) if _may_rerun(user, run) else None,
        "reruns": list(run.reruns.order_by("created_at").values_list("id", flat=True)[:20]),
        "step_runs": step_runs,
        "requirements": requirements,
        "hidden_requirements": len(hidden),
        # Who claimed, released, reassigned, took over or approved what (of the visible ones).
        "assignment_changes": list(
            AssignmentChange.objects.filter(
                run=run, requirement__in=selectors.requirements_inspectable_by(user).filter(run=run).values("id")
            )
            .select_related("requirement")
            .only("action", "actor_name", "from_label", "to_label", "note", "created_at", "requirement__step_name")
            .order_by("created_at", "id")[:200]
        ),
        "events": events,
        "may_cancel": run.is_active and selectors.user_may_cancel_runs(user),
        "workflow_registered": registered(run.workflow_name),
        # Changes are pushed over the websocket; polling only covers a dropped connection.
        "poll_seconds": 30,
    }


def _run_graph(run: WorkflowRun, step_runs, requirements, events) -> graph.Graph | None:
    """The workflow's graph with each node's state in this run, and what the user may see of its
    attempts and requirements (None when the workflow is not registered here any more)."""
    try:
        workflow = registry.get(run.workflow_name)
    except registry.WorkflowNotFound:
        return None
    drawn = graph.with_states(
        graph.build(workflow),
        run_status=run.status,
        # The state of every gate, also of those assigned to others: the event log says as much.
        events=[(event.event, event.path) for event in events],
        requirements=list(run.requirements.values_list("path", "status")),
    )
    for node in drawn.nodes:
        node.step_runs = [s for s in step_runs if s.path == node.path]
        node.requirements = [r for r in requirements if r.path == node.path]
    return drawn


def _may_rerun(user, run: WorkflowRun) -> bool:
    return run.status in services.RERUNNABLE_STATUSES and selectors.user_may_start_runs(user)


def rerun_form(run: WorkflowRun, data=None) -> RunStartForm:
    """The start form, filled with the run's input and additional data as the page shows them."""
    initial = {
        "input": "" if run.input is None else run.input if isinstance(run.input, str) else pretty_json(run.input),
        "additional_data": pretty_json(run.additional_data) if run.additional_data else "",
    }
    return RunStartForm(data, initial=initial, prefix="rerun")


def _with_depth(step: StepRun) -> StepRun:
    step.depth = step.path.count("/") // 2
    return step


def registered(name: str) -> bool:
    try:
        registry.get(name)
    except registry.WorkflowNotFound:
        return False
    return True
