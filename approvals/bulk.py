"""Bulk decisions from the inbox: what "Approve selected" and "Reject selected" mean per kind, and
how each item's outcome reads. Each item is still decided by ``requirement_resolve`` on its own
(``workflows.services.requirements_resolve_bulk``), with the version the inbox showed.

Only kinds that ask for no input may be decided in bulk:

- confirmation, executor_confirmation: approve = confirm, reject = reject (with the feedback);
- output_review: approve = approve the output as shown, reject = reject (the step runs again);
- iteration_review: approve = accept the iteration, reject = another iteration;
- error: approve = retry the step, reject = skip it (an error takes no feedback).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from workflows import selectors as workflow_selectors
from workflows import services as workflow_services
from workflows.models import Requirement

# kind -> (action of "Approve selected", action of "Reject selected")
BULK_ACTIONS = {
    "confirmation": ("confirm", "reject"),
    "executor_confirmation": ("confirm", "reject"),
    "output_review": ("confirm", "reject"),
    "iteration_review": ("confirm", "reject"),
    "error": ("retry", "skip"),
}
DONE_WORDS = {
    ("confirm", "output_review"): "Approved",
    ("confirm", "iteration_review"): "Accepted",
    ("confirm", ""): "Confirmed",
    ("reject", ""): "Rejected",
    ("retry", ""): "Retrying",
    ("skip", ""): "Skipped",
}
MAX_BULK_ITEMS = 100
# Conflicts that mean someone (or the timeout) decided first.
DECIDED_CODES = {"already_resolved", "already_expired", "already_cancelled"}


@dataclass
class BulkRow:
    """One selected item and what became of it, for the report page."""

    id: str
    step_name: str
    workflow_name: str
    kind: str
    outcome: str  # done, already_decided, refused
    text: str


def parse_selected(values: list[str]) -> list[tuple[str, int | None]]:
    """The inbox's checkbox values ("<id>:<version>") as (id, version); an unreadable version is
    None (then the decision is not version-checked, as an API call without a version)."""
    parsed = []
    for value in values[:MAX_BULK_ITEMS]:
        ident, _, version = value.partition(":")
        parsed.append((ident.strip(), int(version) if version.isdigit() else None))
    return parsed


def decide_selected(*, user, selected: list[tuple[str, int | None]], verb: str, feedback: str) -> list[BulkRow]:
    """Decide each selected item (``verb`` "approve" or "reject") and say what became of it."""
    ids = [ident for ident, _ in selected]
    known = {}
    for row in workflow_selectors.requirements_inspectable_by(user).filter(id__in=_uuids(ids)):
        known[str(row.id)] = row
    items = []
    for ident, version in selected:
        req = known.get(ident)
        if req is not None and req.kind not in BULK_ACTIONS:
            items.append(None)  # asks for input: decided on its own page only, never in bulk
            continue
        approve, reject = BULK_ACTIONS.get(req.kind if req else "", ("confirm", "reject"))
        action = approve if verb == "approve" else reject
        data = {"feedback": feedback} if action == "reject" and feedback else None
        items.append(workflow_services.BulkDecision(id=ident, action=action, data=data, version=version))
    outcomes = iter(workflow_services.requirements_resolve_bulk(user=user, items=[i for i in items if i]))
    fresh = {str(r.id): r for r in Requirement.objects.filter(id__in=list(known))}
    rows = []
    for (ident, _), item in zip(selected, items, strict=True):
        req = fresh.get(ident)
        if item is None:
            text = "Refused: it asks for input, decide it on its own page"
            rows.append(BulkRow(ident, req.step_name, req.workflow_name, req.kind, "refused", text))
        else:
            rows.append(_row(item, next(outcomes), req))
    return rows


def _uuids(ids: list[str]) -> list[str]:
    valid = []
    for ident in ids:
        try:
            valid.append(str(uuid.UUID(ident)))
        except ValueError:
            continue
    return valid


def _row(item, outcome, req: Requirement | None) -> BulkRow:
    step = req.step_name if req else "Unknown item"
    workflow = req.workflow_name if req else ""
    kind = req.kind if req else ""
    if outcome.status == "done":
        text = outcome.message or DONE_WORDS.get((item.action, kind)) or DONE_WORDS[(item.action, "")]
        return BulkRow(item.id, step, workflow, kind, "done", text)
    if outcome.status == "conflict":
        if outcome.code in DECIDED_CODES and req is not None:
            who = f" by {req.resolved_by_name}" if req.resolved_by_name else ""
            text = f"Already decided{who}: {req.get_status_display().lower()}"
            if req.status == Requirement.Status.CANCELLED:
                text = f"Already decided: cancelled{who}"
            return BulkRow(item.id, step, workflow, kind, "already_decided", text)
        texts = {
            "stale_version": "Not applied: it changed since the inbox showed it",
            "expired": "Not applied: it expired, the timeout decided it",
            "workflow_unavailable": "Refused: its workflow is not available in this deployment",
        }
        text = texts.get(outcome.code) or (f"Not applied: {outcome.message}" if outcome.message else "Not applied")
        return BulkRow(item.id, step, workflow, kind, "refused", text)
    if outcome.status == "invalid":
        reasons = "; ".join(outcome.errors.values()) or "invalid"
        return BulkRow(item.id, step, workflow, kind, "refused", f"Refused: {reasons}")
    if outcome.status == "forbidden":
        text = f"Refused: {outcome.message}" if outcome.message else "Refused: not assigned to you"
        return BulkRow(item.id, step, workflow, kind, "refused", text)
    return BulkRow(item.id, step, workflow, kind, "refused", "Refused: not found, or no longer yours")
