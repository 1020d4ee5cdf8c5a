"""Reads of the reviewer app. Who may see what is decided by ``workflows.selectors`` alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from workflows import selectors as workflow_selectors
from workflows import teams
from workflows.models import Requirement, StepRun, WorkflowRun

ASSIGNED_TO_ME = "me"
ASSIGNED_TO_MY_GROUPS = "groups"


@dataclass(frozen=True)
class InboxFilters:
    workflow: str = ""
    kind: str = ""
    assigned: str = ""  # "", ASSIGNED_TO_ME or ASSIGNED_TO_MY_GROUPS
    q: str = ""
    sort: str = ""  # a key of SORT_LABELS; "" is the default order. Orders, does not narrow.

    @property
    def active(self) -> bool:
        return bool(self.workflow or self.kind or self.assigned or self.q)

    @property
    def order(self) -> tuple[str, ...]:
        """The inbox's ``order_by`` for this sort (the default sort without one)."""
        return workflow_selectors.SORTS[self.sort or DEFAULT_SORT]


SORT_LABELS = {"due": "Due soonest", "priority": "Priority", "deadline": "Deadline soonest", "age": "Oldest"}
DEFAULT_SORT = "due"


def inbox_requirements(*, user, filters: InboxFilters | None = None, sort: str = "") -> QuerySet[Requirement]:
    """Pending requirements ``user`` may resolve, in ``sort`` order (newest first without one),
    narrowed by ``filters``.

    One query whatever the inbox size: filters are subqueries on the requirement rows, and rows
    carry the workflow name, so nothing is joined or loaded per row.
    """
    qs = workflow_selectors.requirements_pending_for(user)
    f = filters or InboxFilters()
    if f.workflow:
        qs = qs.filter(workflow_name=f.workflow)
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.assigned == ASSIGNED_TO_ME:
        qs = qs.filter(id__in=Requirement.objects.filter(assignees=user).values("id"))
    elif f.assigned == ASSIGNED_TO_MY_GROUPS:
        qs = qs.filter(id__in=Requirement.objects.filter(groups__in=user.groups.all()).values("id"))
    if f.q:
        term = f.q.strip()
        match = Q(workflow_name__icontains=term) | Q(step_name__icontains=term)
        try:
            match |= Q(run_id=uuid.UUID(term))
        except ValueError:
            if len(term) >= 4:  # a run id prefix, as shown in the inbox
                match |= Q(run__id__istartswith=term)
        qs = qs.filter(match)
    if sort in workflow_selectors.SORTS:
        return workflow_selectors.requirements_sorted(qs, sort)
    return qs.order_by("-created_at", "id")


# Past this many, the inbox says "1000+": counting every row of a huge inbox costs more than the page.
COUNT_CAP = 1000


def capped_count(qs) -> int:
    """``qs.count()``, but at most ``COUNT_CAP + 1`` (one query, stops early)."""
    return qs.order_by()[: COUNT_CAP + 1].count()


def inbox_count(*, user) -> int:
    return capped_count(workflow_selectors.requirements_pending_for(user))


def _after(order: tuple[str, ...], row: Requirement) -> Q:
    """The rows that come after ``row`` in ``order`` (a keyset condition: no offset, any size)."""
    condition, equal = None, Q()
    for field in order:
        name = field.lstrip("-")
        value = getattr(row, name)
        step = equal & Q(**{f"{name}__{'lt' if field.startswith('-') else 'gt'}": value})
        condition = step if condition is None else condition | step
        equal &= Q(**{name: value})
    return condition


def _reversed(order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(field[1:] if field.startswith("-") else f"-{field}" for field in order)


def next_pending_for(*, user, after: Requirement, filters: InboxFilters | None = None) -> Requirement | None:
    """The inbox item to show after deciding ``after``, within the inbox ``filters`` (and sort)
    the reviewer came from: first what the same run now asks of them (the revised draft after a
    reject, the next iteration), then the next one in inbox order, else the first. Items someone
    else has claimed are passed over: only the claimer decides them."""
    f = filters or InboxFilters()
    pending = (
        inbox_requirements(user=user, filters=f)
        .exclude(id=after.id)
        .filter(Q(claimed_by__isnull=True) | Q(claimed_by=user.pk))
    )
    same_run = pending.filter(run_id=after.run_id, created_at__gte=after.created_at).order_by("created_at", "id")
    following = pending.filter(_after(f.order, after)).order_by(*f.order)
    return same_run.only("id").first() or following.only("id").first() or pending.order_by(*f.order).only("id").first()


def neighbours_for(*, user, req: Requirement, filters: InboxFilters | None = None):
    """The pending items just before and just after ``req`` in inbox order, or None: the decision
    page's "Previous item" / "Next item"."""
    f = filters or InboxFilters()
    pending = inbox_requirements(user=user, filters=f).exclude(id=req.id).only("id")
    previous = pending.filter(_after(_reversed(f.order), req)).order_by(*_reversed(f.order)).first()
    following = pending.filter(_after(f.order, req)).order_by(*f.order).first()
    return previous, following


def same_run_pending_for(*, user, after: Requirement) -> bool:
    """Whether ``after``'s run asks ``user`` something new since ``after``."""
    pending = workflow_selectors.requirements_pending_for(user).exclude(id=after.id)
    return pending.filter(run_id=after.run_id, created_at__gte=after.created_at).exists()


def run_continuing(*, run_id) -> bool:
    """Whether the run is being worked on: running, or scheduled to continue after a decision
    (paused with a lease the scheduling service set)."""
    now = timezone.now()
    return WorkflowRun.objects.filter(
        Q(status__in=(WorkflowRun.Status.PENDING, WorkflowRun.Status.RUNNING))
        | Q(status=WorkflowRun.Status.PAUSED, lease_until__gt=now),
        id=run_id,
    ).exists()


def requirement_for_decision(*, user, requirement_id) -> Requirement:
    """The requirement ``user`` may see, with its run; ``Requirement.DoesNotExist`` otherwise."""
    return workflow_selectors.requirements_visible_to(user).select_related("run").get(id=requirement_id)


def previous_step_outputs(*, requirement: Requirement, limit: int = 50) -> list[StepRun]:
    """Step attempts of the run that ended before this requirement was created (oldest first)."""
    rows = StepRun.objects.filter(run_id=requirement.run_id, finished_at__lte=requirement.created_at).order_by("-id")
    return list(reversed(rows[:limit]))


def decision_history(*, requirement: Requirement) -> list[Requirement]:
    """Earlier requirements of the same step (e.g. rejected drafts), newest first."""
    return list(
        Requirement.objects.filter(run_id=requirement.run_id, path=requirement.path, kind=requirement.kind)
        .exclude(id=requirement.id)
        .exclude(status=Requirement.Status.PENDING)
        .order_by("-created_at")[:10]
    )


@dataclass(frozen=True)
class TeamView:
    """What the decision page shows of the people around a requirement, for one user."""

    claimed_by: str
    mine: bool
    claimed_by_other: bool
    may_override: bool
    may_reassign: bool
    separated: str  # why separation of duties keeps this user from deciding, or ""
    approvals: list
    approvals_needed: int
    approved_by_me: bool  # toward a quorum still open: nothing more for this user to do
    assignment: str
    comments: list
    changes: list


def team_view(*, user, requirement: Requirement) -> TeamView:
    req = requirement
    claimed_by = req.claimed_by.get_username() if req.claimed_by_id and req.claimed_by else ""
    mine = bool(req.claimed_by_id) and req.claimed_by_id == user.pk
    approvals = list(req.approvals.all())
    separated = ""
    if req.is_pending and req.separation_of_duties:
        try:
            teams.refuse_separation(req, req.run, user.get_username())
        except teams.SeparationOfDutiesError as exc:
            separated = str(exc)
    holder = mine or (not req.claimed_by_id and req.assignees.filter(pk=user.pk).exists())
    return TeamView(
        claimed_by=claimed_by,
        mine=mine,
        claimed_by_other=bool(req.claimed_by_id) and not mine,
        may_override=user.has_perm(teams.OVERRIDE_PERM),
        may_reassign=req.is_pending and (holder or user.has_perm(teams.REASSIGN_PERM)),
        separated=separated,
        approvals=approvals,
        approvals_needed=teams.approvals_needed(req, approvals) if teams.is_quorum(req) else 0,
        approved_by_me=req.is_pending and any(a.username == user.get_username() for a in approvals),
        assignment=teams.assignment_label(req),
        comments=list(req.comments.order_by("created_at", "id")[:200]),
        changes=list(req.assignment_changes.order_by("created_at", "id")[:200]),
    )
