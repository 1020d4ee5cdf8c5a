"""Runs, requirements and comments as JSON objects: the API answers with them and the outbound
webhooks (``notifications``) send them, so both say the same thing the same way."""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse

from workflows import registry, selectors, teams
from workflows.engine.requirements import ACTIONS
from workflows.engine.workflow import WorkflowRunOutput
from workflows.models import Requirement, RequirementComment, WorkflowRun
from workflows.store import state_from_row


def with_team(qs):
    """What ``requirement_json`` reads of each row, in a fixed number of queries for any list."""
    return (
        qs.select_related("claimed_by")
        .prefetch_related("assignees", "groups", "approvals")
        .annotate(comments_total=Count("comments"))
    )


def requirement_json(req: Requirement) -> dict:
    return {
        "id": str(req.id),
        "run_id": str(req.run_id),
        "workflow": req.workflow_name,
        "kind": req.kind,
        "step_name": req.step_name,
        "path": req.path,
        "iteration": req.iteration,
        "attempt": req.attempt,
        "message": req.message or None,
        "payload": req.payload,
        "status": req.status,
        "version": req.version,
        "actions": list(ACTIONS.get(req.kind, ())) if req.is_pending else [],
        "timeout_at": req.timeout_at,
        "on_timeout": req.on_timeout or None,
        "created_at": req.created_at,
        "resolution": req.resolution,
        "resolved_by": req.resolved_by_name or None,
        "resolved_at": req.resolved_at,
        # Teams: who holds it, who may decide it, how urgent, how many approvals still needed.
        "claimed_by": req.claimed_by.get_username() if req.claimed_by else None,
        "assignees": [u.get_username() for u in req.assignees.all()],
        "groups": [g.name for g in req.groups.all()],
        "priority": req.priority,
        "due_at": req.due_at,
        "approvals": [{"user": a.username, "at": a.created_at} for a in req.approvals.all()],
        "approvals_needed": teams.approvals_needed(req, list(req.approvals.all())),
        "comments_count": req.comments_total if hasattr(req, "comments_total") else req.comments.count(),
    }


def comment_json(comment: RequirementComment) -> dict:
    return {"id": comment.id, "user": comment.author_name, "text": comment.text, "at": comment.created_at}


def run_json(run: WorkflowRun, user, *, state=None, requirements=None) -> dict:
    """``state``: the run's engine state, if already read; ``requirements``: the pending
    requirement rows ``user`` may inspect, if already known (callers writing many at once)."""
    try:
        workflow = registry.get(run.workflow_name)
    except registry.WorkflowNotFound:
        workflow = None  # a run of a definition that is gone: no step results to name
    output = WorkflowRunOutput(state or state_from_row(run), workflow)
    active = (
        with_team(selectors.requirements_inspectable_by(user))
        .filter(run=run, status=Requirement.Status.PENDING)
        .order_by("created_at", "key")
        if requirements is None
        else requirements
    )
    return {
        **run_summary_json(run),
        "input": run.input,
        "additional_data": run.additional_data,
        "requirements": [requirement_json(r) for r in active],
        "step_results": [s.to_dict() for s in output.step_results],
        "content": run.content,
        "cancel_requested": bool(run.cancel_requested_by),
        "cancel_reason": run.cancel_reason,
    }


def run_summary_json(run: WorkflowRun) -> dict:
    """A run in a list: what it is and where it stands, without its state or step results."""
    paused = run.status == WorkflowRun.Status.PAUSED
    return {
        "id": str(run.id),
        "workflow": run.workflow_name,
        "status": run.status,
        "pause_kind": (run.pause_kind or None) if paused else None,
        "paused_step_name": (run.paused_step_name or None) if paused else None,
        "error": run.error or None,
        "created_by": run.created_by.get_username() if run.created_by else None,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "finished_at": run.finished_at,
        "rerun_of": str(run.rerun_of_id) if run.rerun_of_id else None,
        "links": {
            "self": reverse("workflows:api-run", args=[run.id]),
            "page": reverse("workflows:run-detail", args=[run.id]),
        },
    }
