"""Reads: who may see and resolve what, and the querysets pages and the API list."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .engine.requirements import Requirement as EngineRequirement
from .models import RESOLVE_PERM, Delegation, Requirement, RequirementApproval, WorkflowRun
from .store import requirement_to_engine


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def requirements_visible_to(user) -> QuerySet[Requirement]:
    """Requirements ``user`` may see and resolve: assigned to them or their groups, or open to
    everyone holding ``resolve_requirement``. Superusers see everything; staff status alone grants
    nothing (it only opens the admin, where permissions decide again)."""
    qs = Requirement.objects.all()
    if not _active(user):
        return qs.none()
    if user.is_superuser:
        return qs
    # Membership subqueries on the link tables: no joins in the outer query, so it can walk the
    # (status, created_at) index in inbox order and stop after one page.
    # A delegation in force hands the delegate what is assigned to the delegator by name (items
    # assigned before it began too); the delegate holds the resolve permission (checked when made).
    now = timezone.now()
    delegators = Delegation.objects.filter(delegate_id=user.id, starts_at__lte=now, ends_at__gt=now).values("user_id")
    links = Requirement.assignees.through.objects.filter(Q(user_id=user.id) | Q(user_id__in=delegators)).values(
        "requirement_id"
    )
    group_links = Requirement.groups.through.objects.filter(group__user=user).values("requirement_id")
    rule = Q(id__in=links) | Q(id__in=group_links)
    if user.has_perm(RESOLVE_PERM):
        rule |= Q(is_assigned=False)
    return qs.filter(rule)


def engine_requirement(row: Requirement) -> EngineRequirement:
    """The requirement as the engine sees it: what ``clean_decision`` checks a decision against."""
    return requirement_to_engine(row)


def requirements_pending_for(user) -> QuerySet[Requirement]:
    """What waits for ``user``: pending requirements they may resolve, less the quorums they
    approved already (their part is done; the others' approvals are awaited)."""
    mine = RequirementApproval.objects.filter(requirement=OuterRef("pk"), username=user.get_username())
    return requirements_visible_to(user).filter(status=Requirement.Status.PENDING).exclude(Exists(mine))


def user_may_resolve(user, requirement: Requirement) -> bool:
    return requirements_visible_to(user).filter(id=requirement.id).exists()


def runs_visible_to(user) -> QuerySet[WorkflowRun]:
    """Runs ``user`` may open (read-only unless they may also cancel): all of them with
    ``workflows.view_workflowrun`` (or as a superuser); else the runs they started and the runs of
    requirements they may see. Starting runs (``start_run``) shows nobody else's."""
    if not _active(user):
        return WorkflowRun.objects.none()
    if user.has_perm("workflows.view_workflowrun"):  # True for superusers
        return WorkflowRun.objects.all()
    reviewed = requirements_visible_to(user).values("run_id")
    return WorkflowRun.objects.filter(Q(created_by=user) | Q(id__in=reviewed))


def visible_run(user, run_id) -> WorkflowRun | None:
    """The run ``run_id`` if ``user`` may open it (with its starter), else None: unknown and
    not-yours look the same."""
    return runs_visible_to(user).select_related("created_by").filter(id=run_id).first()


def requirements_inspectable_by(user) -> QuerySet[Requirement]:
    """Requirements ``user`` may look at (run pages, the API's reads): the ones they may resolve,
    or all of them for holders of ``workflows.view_requirement`` (auditors) and superusers."""
    if _active(user) and user.has_perm("workflows.view_requirement"):
        return Requirement.objects.all()
    return requirements_visible_to(user)


def user_may_review(user) -> bool:
    """Whether ``user`` may have requirements to resolve at all: the resolve permission (or a
    superuser), a group (requirements go to groups), or a requirement assigned to them by name. The
    live inbox closes when this ends."""
    if not _active(user):
        return False
    if user.has_perm(RESOLVE_PERM) or user.groups.exists():
        return True
    return Requirement.assignees.through.objects.filter(user_id=user.id).exists()


def user_may_start_runs(user) -> bool:
    return _active(user) and user.has_perm("workflows.start_run")


def user_may_cancel_runs(user) -> bool:
    """Holders of ``workflows.cancel_run`` (on runs they can see), and superusers."""
    return _active(user) and user.has_perm("workflows.cancel_run")


# The inbox's and the API's sort orders, each served by an index (see Requirement.Meta).
SORTS = {
    # What is due (or times out) soonest first; without dates, the newest first.
    "due": ("due_sort", "-created_at", "id"),
    "priority": ("-priority_rank", "due_sort", "-created_at", "id"),
    "deadline": ("deadline_sort", "-created_at", "id"),  # what times out soonest first
    "age": ("created_at", "-id"),  # the oldest first
}
CLAIMED = ("me", "none", "any")


def requirements_sorted(qs: QuerySet[Requirement], sort: str) -> QuerySet[Requirement]:
    return qs.order_by(*SORTS[sort])


def requirements_claimed(qs: QuerySet[Requirement], claimed: str, user) -> QuerySet[Requirement]:
    if claimed == "me":
        return qs.filter(claimed_by_id=user.id)
    if claimed == "none":
        return qs.filter(claimed_by__isnull=True)
    return qs
