"""Figures of the analytics dashboard (``/analytics/``, ``GET /api/v1/analytics``): reads only.

Every figure is aggregated in the database (GROUP BY) over a period, so its cost follows the rows
of the period, not the whole history (indexes on ``Requirement.resolved_at`` and
``WorkflowRun.finished_at``). Percentiles of time to decision are continuous (linear
interpolation, like PostgreSQL's ``percentile_cont``): PostgreSQL computes them itself; other
databases send each group's durations in order and they are interpolated here, the same way.

Who may see it: holders of ``workflows.view_workflowrun`` (operators, auditors) and superusers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from workflows.models import Requirement, WorkflowRun

from .forms import AnalyticsFilterForm

PERMISSION = "workflows.view_workflowrun"
DEFAULT_DAYS = 30
MAX_DAYS = 3660
# A pending requirement past its timeout (not swept yet) or waiting longer than this is overdue.
OVERDUE_AFTER = timedelta(hours=24)

DECIDED = (Requirement.Status.RESOLVED, Requirement.Status.EXPIRED)
# How a decision counts in the rates: what the person did to the step.
OUTCOMES = {
    "confirm": "approve",
    "submit": "approve",
    "select": "approve",
    "provide_result": "approve",
    "edit": "edit",
    "reject": "reject",
    "skip": "reject",
}
OUTCOME_NAMES = ("approve", "edit", "reject", "timeout", "other")


def user_may_view(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(PERMISSION))


@dataclass(frozen=True)
class Period:
    """Days ``first`` to ``last`` inclusive, in the site's time zone."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, *, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=timezone.get_current_timezone())

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass
class Figures:
    period: Period
    workflow: str
    time_to_decision: dict[str, list[dict]] = field(default_factory=dict)  # by workflow, step, reviewer
    outcomes_by_step: list[dict] = field(default_factory=list)
    pending_by_group: list[dict] = field(default_factory=list)
    pending_by_reviewer: list[dict] = field(default_factory=list)
    decisions_per_day: list[dict] = field(default_factory=list)
    runs_by_workflow: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "period": {"since": self.period.first.isoformat(), "until": self.period.last.isoformat()},
            "workflow": self.workflow or None,
            "time_to_decision": self.time_to_decision,
            "outcomes_by_step": self.outcomes_by_step,
            "pending_by_group": self.pending_by_group,
            "pending_by_reviewer": self.pending_by_reviewer,
            "decisions_per_day": [{**row, "day": row["day"].isoformat()} for row in self.decisions_per_day],
            "runs_by_workflow": self.runs_by_workflow,
        }


def workflow_names() -> list[str]:
    from workflows import registry

    return sorted(
        {wf.name for wf in registry.all_workflows()}
        | set(WorkflowRun.objects.order_by().values_list("workflow_name", flat=True).distinct())
    )


def filters_from(params) -> tuple[AnalyticsFilterForm, Period | None, str]:
    """The filter form over ``params``, and the period and workflow it selects (None when invalid:
    the form says why)."""
    form = AnalyticsFilterForm(params or None, workflow_names=workflow_names(), max_days=MAX_DAYS)
    if form.is_bound and not form.is_valid():
        return form, None, ""
    data = form.cleaned_data if form.is_bound else {}
    since, until = data.get("since"), data.get("until")
    if since and until:
        period = Period(since, until)
    elif since:
        period = Period(since, max(since, timezone.localdate()))
    elif until:
        period = Period.last_days(DEFAULT_DAYS, today=until)
    else:
        period = Period.last_days(DEFAULT_DAYS)
    return form, period, data.get("workflow") or ""


def figures(*, period: Period, workflow: str = "", now: datetime | None = None) -> Figures:
    now = now or timezone.now()
    decided = Requirement.objects.filter(
        status__in=DECIDED, resolved_at__gte=period.start, resolved_at__lt=period.end
    ).order_by()
    runs = WorkflowRun.objects.filter(finished_at__gte=period.start, finished_at__lt=period.end).order_by()
    pending = Requirement.objects.filter(status=Requirement.Status.PENDING).order_by()
    if workflow:
        decided = decided.filter(workflow_name=workflow)
        runs = runs.filter(workflow_name=workflow)
        pending = pending.filter(workflow_name=workflow)
    by_people = decided.filter(status=Requirement.Status.RESOLVED)
    return Figures(
        period=period,
        workflow=workflow,
        time_to_decision={
            "workflow": _percentiles(by_people, ("workflow_name",)),
            "step": _percentiles(by_people, ("workflow_name", "step_name")),
            "reviewer": _percentiles(by_people, ("resolved_by_name",)),
        },
        outcomes_by_step=_outcomes(decided),
        pending_by_group=_pending_by("group", pending, now),
        pending_by_reviewer=_pending_by("reviewer", pending, now),
        decisions_per_day=_per_day(decided, period),
        runs_by_workflow=_runs(runs),
    )


# -- time to decision -----------------------------------------------------------------------------
KEY_NAMES = {"workflow_name": "workflow", "step_name": "step", "resolved_by_name": "reviewer"}


class _PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate ``percentile_cont(p) WITHIN GROUP (ORDER BY x)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float):
        super().__init__(expression, fraction=float(fraction))


def _seconds_pg():
    return Func(
        F("resolved_at") - F("created_at"), template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
    )


def percentile(ordered: list[float], fraction: float) -> float:
    """Continuous percentile of sorted values (PostgreSQL's ``percentile_cont``)."""
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _percentiles(qs: QuerySet, keys: tuple[str, ...]) -> list[dict]:
    """``[{<key names>, decisions, p50_seconds, p90_seconds}]`` per group, most decisions first."""
    rows = []
    if connection.vendor == "postgresql":
        grouped = (
            qs.values(*keys)
            .annotate(n=Count("id"), p50=_PercentileCont(_seconds_pg(), 0.5), p90=_PercentileCont(_seconds_pg(), 0.9))
            .order_by(*keys)
        )
        for row in grouped:
            rows.append((tuple(row[k] for k in keys), row["n"], row["p50"], row["p90"]))
    else:
        took = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
        values = qs.annotate(took=took).order_by(*keys, "took").values_list(*keys, "took")
        for key, group in groupby(values.iterator(chunk_size=5_000), key=lambda row: row[:-1]):
            ordered = [row[-1].total_seconds() for row in group]
            rows.append((key, len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9)))
    out = [
        {
            **{KEY_NAMES[k]: value for k, value in zip(keys, key, strict=True)},
            "decisions": n,
            "p50_seconds": round(p50, 3),
            "p90_seconds": round(p90, 3),
        }
        for key, n, p50, p90 in rows
    ]
    return sorted(out, key=lambda row: (-row["decisions"], *(str(row[KEY_NAMES[k]]) for k in keys)))


# -- outcomes -------------------------------------------------------------------------------------
def _outcomes(decided: QuerySet) -> list[dict]:
    """Per step: how many decisions approved, edited, rejected, timed out (and other: retries),
    with rates (fractions of the step's decisions)."""
    grouped = decided.values("workflow_name", "step_name", "status", action=KT("resolution__action")).annotate(
        n=Count("id")
    )
    steps: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOME_NAMES, 0))
    for row in grouped:
        if row["status"] == Requirement.Status.EXPIRED:
            outcome = "timeout"
        else:
            outcome = OUTCOMES.get(row["action"] or "", "other")
        steps[(row["workflow_name"], row["step_name"])][outcome] += row["n"]
    out = []
    for (workflow, step), counts in steps.items():
        total = sum(counts.values())
        out.append(
            {
                "workflow": workflow,
                "step": step,
                "decisions": total,
                **counts,
                **{f"{name}_rate": round(counts[name] / total, 4) for name in OUTCOME_NAMES},
            }
        )
    return sorted(out, key=lambda row: (-row["decisions"], row["workflow"], row["step"]))


# -- pending --------------------------------------------------------------------------------------
def _pending_by(dimension: str, pending: QuerySet, now: datetime) -> list[dict]:
    """Pending and overdue requirements per assigned group or per assigned user; requirements
    open to everyone with the resolve permission make one row of their own (name null)."""
    overdue = Q(requirement__timeout_at__lt=now) | Q(requirement__created_at__lt=now - OVERDUE_AFTER)
    through = Requirement.groups.through if dimension == "group" else Requirement.assignees.through
    name = "group__name" if dimension == "group" else "user__username"
    grouped = (
        through.objects.filter(requirement__in=pending.values("id"))
        .values(name)
        .annotate(pending=Count("requirement_id"), overdue=Count("requirement_id", filter=overdue))
        .order_by(name)
    )
    out = [{dimension: row[name], "pending": row["pending"], "overdue": row["overdue"]} for row in grouped]
    open_to_all = pending.filter(is_assigned=False).aggregate(
        pending=Count("id"), overdue=Count("id", filter=Q(timeout_at__lt=now) | Q(created_at__lt=now - OVERDUE_AFTER))
    )
    if open_to_all["pending"]:
        out.append({dimension: None, **open_to_all})
    return sorted(out, key=lambda row: (-row["pending"], str(row[dimension] or "")))


# -- per day and runs -----------------------------------------------------------------------------
def _per_day(decided: QuerySet, period: Period) -> list[dict]:
    """Decisions per day of the period (every day, zeros included), people and timeouts apart."""
    grouped = (
        decided.annotate(day=TruncDate("resolved_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "status")
        .annotate(n=Count("id"))
    )
    counts: dict[date, dict[str, int]] = defaultdict(lambda: {"decisions": 0, "timeouts": 0})
    for row in grouped:
        counts[row["day"]]["timeouts" if row["status"] == Requirement.Status.EXPIRED else "decisions"] += row["n"]
    return [{"day": day, **counts.get(day, {"decisions": 0, "timeouts": 0})} for day in period.days]


def _runs(runs: QuerySet) -> list[dict]:
    """Runs that ended in the period, per workflow: completed, failed (ERROR) and cancelled."""
    names = {WorkflowRun.Status.COMPLETED: "completed", WorkflowRun.Status.ERROR: "failed"}
    names[WorkflowRun.Status.CANCELLED] = "cancelled"
    grouped = runs.filter(status__in=names).values("workflow_name", "status").annotate(n=Count("id"))
    out: dict[str, dict] = {}
    for row in grouped:
        entry = out.setdefault(
            row["workflow_name"], {"workflow": row["workflow_name"], **dict.fromkeys(names.values(), 0)}
        )
        entry[names[row["status"]]] = row["n"]
    return sorted(
        out.values(), key=lambda row: (-(row["completed"] + row["failed"] + row["cancelled"]), row["workflow"])
    )


# -- CSV ------------------------------------------------------------------------------------------
CSV_COLUMNS = ("section", "workflow", "step", "reviewer", "group", "day", "metric", "value")


def csv_rows(data: Figures):
    """The figures as tidy rows: one (section, keys..., metric, value) per number."""

    def row(section, metric, value, **keys):
        return {"section": section, "metric": metric, "value": value, **keys}

    for dimension, rows in data.time_to_decision.items():
        for item in rows:
            keys = {k: item[k] for k in ("workflow", "step", "reviewer") if k in item}
            for metric in ("decisions", "p50_seconds", "p90_seconds"):
                yield row(f"time_to_decision_by_{dimension}", metric, item[metric], **keys)
    for item in data.outcomes_by_step:
        for metric in ("decisions", *OUTCOME_NAMES, *(f"{n}_rate" for n in OUTCOME_NAMES)):
            yield row("outcomes_by_step", metric, item[metric], workflow=item["workflow"], step=item["step"])
    for item in data.pending_by_group:
        for metric in ("pending", "overdue"):
            yield row("pending_by_group", metric, item[metric], group=item["group"] or "(anyone)")
    for item in data.pending_by_reviewer:
        for metric in ("pending", "overdue"):
            yield row("pending_by_reviewer", metric, item[metric], reviewer=item["reviewer"] or "(anyone)")
    for item in data.decisions_per_day:
        for metric in ("decisions", "timeouts"):
            yield row("decisions_per_day", metric, item[metric], day=item["day"])
    for item in data.runs_by_workflow:
        for metric in ("completed", "failed", "cancelled"):
            yield row("runs_by_workflow", metric, item[metric], workflow=item["workflow"])
