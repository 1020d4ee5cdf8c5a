"""Rules for people deciding together: claims, separation of duties and quorums.

Pure reads and checks over rows the caller has locked; the writes are the services' (and the
store's, for decisions of the Python API).
"""

from __future__ import annotations

from workflows.engine import persistence
from workflows.engine.errors import ConflictError, HitlError

from .models import Requirement, RequirementApproval, WorkflowRun

OVERRIDE_PERM = "workflows.override_claim"
REASSIGN_PERM = "workflows.reassign_requirement"


class TeamConflict(ConflictError):
    """Refused because of what colleagues did (a claim, an approval already given): ``code`` says
    which (``claimed``, ``already_approved``, ``not_claimed``)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


class SeparationOfDutiesError(HitlError, PermissionError):
    """The user started the run, or decided an earlier requirement of it: someone else decides."""

    code = "separation_of_duties"


def refuse_if_claimed_by_other(row: Requirement, user) -> None:
    if row.claimed_by_id is None or row.claimed_by_id == user.pk or user.has_perm(OVERRIDE_PERM):
        return
    who = row.claimed_by.get_username() if row.claimed_by else "someone else"
    raise TeamConflict(f"Claimed by {who}: only they decide it, unless you take it over.", code="claimed")


def excluded_deciders(row: Requirement, run: WorkflowRun) -> set[str]:
    """Who may not decide ``row`` under separation of duties: the run's starter and everyone who
    decided (or approved toward) an earlier requirement of the same run."""
    names = {run.created_by_name} if run.created_by_name else set()
    earlier = Requirement.objects.filter(run_id=row.run_id, seq__lt=row.seq).exclude(id=row.id)
    names |= set(earlier.exclude(resolved_by_name="").values_list("resolved_by_name", flat=True))
    names |= set(
        RequirementApproval.objects.filter(requirement__in=earlier.values("id")).values_list("username", flat=True)
    )
    names.discard(persistence.SYSTEM_ACTOR)
    return names


def refuse_separation(row: Requirement, run: WorkflowRun, username: str | None) -> None:
    if not row.separation_of_duties or username is None:
        return
    if username in excluded_deciders(row, run):
        started = username == run.created_by_name
        why = "you started this run" if started else "you decided an earlier step of this run"
        raise SeparationOfDutiesError(f"Separation of duties: someone else must decide this ({why}).")


def refuse_if_approved(row: Requirement, username: str, approvals=None) -> None:
    """A quorum's approver has done their part: a second approval by them is refused."""
    if approvals is None:
        approved = row.approvals.filter(username=username).exists()
    else:
        approved = any(a.username == username for a in approvals)
    if approved:
        raise TeamConflict("You already approved this; another person must approve.", code="already_approved")


def is_quorum(row: Requirement) -> bool:
    return row.approvals_required > 1 or bool(row.approvals_per_group)


def approvals_needed(row: Requirement, approvals=None) -> int:
    """How many more approvals complete the quorum (0 for a requirement without one once it is
    decided; 1 while a plain requirement waits). Each approval counts toward at most one group
    of ``approvals_per_group`` (so one person in legal and finance does not stand for two)."""
    if row.status != Requirement.Status.PENDING:
        return 0
    if approvals is None:
        approvals = list(row.approvals.all())
    remaining = dict(row.approvals_per_group or {})
    for approval in approvals:
        for group in approval.groups:
            if remaining.get(group, 0) > 0:
                remaining[group] -= 1
                break
    total = max(row.approvals_required, sum((row.approvals_per_group or {}).values()))
    return max(total - len(approvals), sum(remaining.values()), 0)


def approver_groups(row: Requirement, user) -> list[str]:
    """The user's groups among those the quorum names (kept with the approval)."""
    names = list((row.approvals_per_group or {}).keys())
    if not names:
        return []
    return sorted(user.groups.filter(name__in=names).values_list("name", flat=True))


def assignment_label(row: Requirement) -> str:
    """E.g. ``"alice, group legal"``; ``"anyone who may resolve"`` when unassigned."""
    users = [u.get_username() for u in row.assignees.all()]
    groups = [f"group {g.name}" for g in row.groups.all()]
    return ", ".join(users + groups) or "anyone who may resolve"
