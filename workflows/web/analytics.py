"""Figures of the analytics dashboard (``/analytics/``, ``GET /api/v1/analytics``): reads only.

Decisions are counted per day, workflow, step, reviewer and outcome, with a histogram of their
times to decision. A past day is summed up once, the first time a period shows it, into
``DecisionDay``/``DecisionCount`` rows; the day still open (today) is summed up from its
requirements at each request. So the cost of a period follows its days and what it holds, not
the decisions in it: 100,000 decisions over 30 days read about as fast as 1,000
(``bench/analytics.py``).

Percentiles of time to decision are continuous (linear interpolation, like PostgreSQL's
``percentile_cont``). Up to ``EXACT_UP_TO`` decisions by people in the period they are exact,
computed from every decision (by PostgreSQL itself; other databases send each group's durations in
order and they are interpolated here, the same way); beyond, they are estimated from the
histograms (``Figures.estimated``), within a bucket's width (4.4 %).

Who may see it: holders of ``workflows.view_workflowrun`` (operators, auditors) and superusers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import groupby

from django.db import connection, transaction
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from workflows.models import DecisionCount, DecisionDay, Requirement, WorkflowRun

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
# Up to this many decisions by people in the period, p50 and p90 are exact; beyond, estimated.
EXACT_UP_TO = 2_000
# A day is summed up once it ended this long ago. Decisions are written with ``resolved_at`` the
# time of the decision (or of the sweep that applied a timeout), committed within seconds: none
# lands in a day summed up already.
CLOSED_AFTER = timedelta(hours=1)
# Times to decision in a histogram: bucket b holds the durations d with
# floor(BUCKETS_PER_DOUBLING * log2(1 + d in ms)) == b, each 2 ** (1/16) = 4.4 % wider than the last.
BUCKETS_PER_DOUBLING = 16


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
    estimated: bool = False  # p50 and p90 estimated from histograms (more than EXACT_UP_TO decisions)

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
            "percentiles_estimated": self.estimated,
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
    runs = WorkflowRun.objects.filter(finished_at__gte=period.start, finished_at__lt=period.end).order_by()
    pending = Requirement.objects.filter(status=Requirement.Status.PENDING).order_by()
    if workflow:
        runs = runs.filter(workflow_name=workflow)
        pending = pending.filter(workflow_name=workflow)
    cells = _decisions(period, workflow, now)
    people = sum(cell[DECISIONS] for cell in cells if cell[OUTCOME] != "timeout")
    estimated = people > EXACT_UP_TO
    if estimated:
        time_to_decision = _estimated_percentiles(cells)
    else:
        by_people = Requirement.objects.filter(
            status=Requirement.Status.RESOLVED, resolved_at__gte=period.start, resolved_at__lt=period.end
        ).order_by()
        if workflow:
            by_people = by_people.filter(workflow_name=workflow)
        time_to_decision = {
            "workflow": _percentiles(by_people, ("workflow_name",)),
            "step": _percentiles(by_people, ("workflow_name", "step_name")),
            "reviewer": _percentiles(by_people, ("resolved_by_name",)),
        }
    return Figures(
        period=period,
        workflow=workflow,
        time_to_decision=time_to_decision,
        outcomes_by_step=_outcomes(cells),
        pending_by_group=_pending_by("group", pending, now),
        pending_by_reviewer=_pending_by("reviewer", pending, now),
        decisions_per_day=_per_day(cells, period),
        runs_by_workflow=_runs(runs),
        estimated=estimated,
    )


# -- decisions summed up per day ------------------------------------------------------------------
# A cell: (day, workflow, step, reviewer, outcome, decisions, histogram {str(bucket): count}).
DAY, WORKFLOW, STEP, REVIEWER, OUTCOME, DECISIONS, DURATIONS = range(7)


def bucket(seconds: float) -> int:
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(1 + max(seconds, 0) * 1000))


def bucket_bounds(number: int) -> tuple[float, float]:
    """The durations of bucket ``number``, in seconds: from the first (included) to the second."""
    return tuple((2 ** (b / BUCKETS_PER_DOUBLING) - 1) / 1000 for b in (number, number + 1))


def _decisions(period: Period, workflow: str, now: datetime) -> list[tuple]:
    """The cells of the decisions of ``period``: of past days as summed up once, of the others
    (today) as summed up now."""
    tz = timezone.get_current_timezone()
    first_open = timezone.localtime(now - CLOSED_AFTER, tz).date()
    cells = []
    if period.first < first_open:
        cells += _closed_days(Period(period.first, min(period.last, first_open - timedelta(days=1))), tz, workflow)
    if period.last >= first_open:
        cells += _summarize(Period(max(period.first, first_open), period.last), tz, workflow)
    return cells


class _Seconds(Func):
    """Seconds from ``created_at`` to ``resolved_at`` computed by the database, for histograms:
    exact on PostgreSQL, to a tenth of a millisecond on SQLite (``julianday``)."""

    output_field = FloatField()

    def __init__(self):
        super().__init__(F("resolved_at"), F("created_at"))

    def as_sql(self, compiler, connection, **extra):
        extra.update(template="EXTRACT(EPOCH FROM %(expressions)s)::float", arg_joiner=" - ")
        return super().as_sql(compiler, connection, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        extra.update(template="(julianday(%(expressions)s)) * 86400.0", arg_joiner=") - julianday(")
        return super().as_sql(compiler, connection, **extra)


def _summarize(period: Period, tz: tzinfo, workflow: str = "") -> list[tuple]:
    """Cells of the decisions of ``period``, from the requirements."""
    decided = Requirement.objects.filter(
        status__in=DECIDED, resolved_at__gte=period.start, resolved_at__lt=period.end
    ).order_by()
    if workflow:
        decided = decided.filter(workflow_name=workflow)
    fields = ["workflow_name", "step_name", "resolved_by_name", "status", KT("resolution__action"), _Seconds()]
    one_day = period.first == period.last  # today, usually: no day to compute per decision
    rows = decided.values_list(*fields, *([] if one_day else [TruncDate("resolved_at", tzinfo=tz)]))
    cells: dict[tuple, list] = {}
    for name, step, reviewer, status, action, seconds, *day in rows.iterator(chunk_size=5_000):
        outcome = "timeout" if status == Requirement.Status.EXPIRED else OUTCOMES.get(action or "", "other")
        key = (day[0] if day else period.first, name, step, reviewer, outcome)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, Counter()]
        cell[0] += 1
        if outcome != "timeout":
            cell[1][str(bucket(seconds))] += 1
    return [(*key, n, dict(durations)) for key, (n, durations) in cells.items()]


def _closed_days(period: Period, tz: tzinfo, workflow: str) -> list[tuple]:
    """Cells of the past days of ``period``, summing up the days not summed up yet."""
    tz_name = str(tz)
    days = DecisionDay.objects.filter(tz=tz_name, day__gte=period.first, day__lte=period.last)
    done = set(days.values_list("day", flat=True))
    missing = [day for day in period.days if day not in done]
    if missing:
        _sum_up(Period(missing[0], missing[-1]), tz, skip=done)
    counts = DecisionCount.objects.filter(day__in=days).order_by()
    if workflow:
        counts = counts.filter(workflow_name=workflow)
    return list(
        counts.values_list("day__day", "workflow_name", "step_name", "reviewer", "outcome", "decisions", "durations")
    )


def _sum_up(period: Period, tz: tzinfo, *, skip: set[date]) -> None:
    """Sum up the days of ``period`` but those in ``skip``. Two requests summing up the same day
    write the same rows: the second one's are ignored."""
    by_day = defaultdict(list)
    for cell in _summarize(period, tz):
        by_day[cell[DAY]].append(cell)
    tz_name = str(tz)
    days = [day for day in period.days if day not in skip]
    with transaction.atomic():
        _forgotten_days().clear()  # a day summed up again in this transaction is forgotten again
        DecisionDay.objects.bulk_create([DecisionDay(tz=tz_name, day=day) for day in days], ignore_conflicts=True)
        ids = dict(DecisionDay.objects.filter(tz=tz_name, day__gte=days[0], day__lte=days[-1]).values_list("day", "id"))
        DecisionCount.objects.bulk_create(
            [
                DecisionCount(
                    day_id=ids[day],
                    workflow_name=cell[WORKFLOW],
                    step_name=cell[STEP],
                    reviewer=cell[REVIEWER],
                    outcome=cell[OUTCOME],
                    decisions=cell[DECISIONS],
                    durations=cell[DURATIONS],
                )
                for day in days
                for cell in by_day.get(day, ())
            ],
            batch_size=2_000,
            ignore_conflicts=True,
        )


def _forgotten_days(using=None) -> set:
    """The days forgotten in the current transaction (kept on its outermost atomic block, which
    ends with it); an empty set, kept nowhere, outside one."""
    conn = transaction.get_connection(using)
    if not (conn.in_atomic_block and conn.atomic_blocks):
        return set()
    return conn.atomic_blocks[0].__dict__.setdefault("hitl_forgotten_days", set())


def forget_day(sender, instance: Requirement, using=None, **kwargs) -> None:
    """(``post_delete`` of a requirement) A decided requirement deleted (its run deleted): the day
    it counts in is summed up again when next shown (days around it: in any time zone). Deleting
    runs deletes their requirements one signal each: a transaction forgets each day once."""
    if instance.status not in DECIDED or instance.resolved_at is None:
        return
    day = instance.resolved_at.astimezone(UTC).date()
    forgotten = _forgotten_days(using)
    if day not in forgotten:
        DecisionDay.objects.using(using).filter(
            day__gte=day - timedelta(days=1), day__lte=day + timedelta(days=1)
        ).delete()
        forgotten.add(day)


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
    return _percentile_rows(keys, rows)


def _percentile_rows(keys: tuple[str, ...], rows: list[tuple]) -> list[dict]:
    """``rows``: ``(key values, decisions, p50, p90)`` -> the figures' rows, most decisions first."""
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


def _estimated_percentiles(cells: list[tuple]) -> dict[str, list[dict]]:
    """Time to decision per workflow, step and reviewer from the cells' histograms."""
    groups = {"workflow": defaultdict(Counter), "step": defaultdict(Counter), "reviewer": defaultdict(Counter)}
    by_cell: dict[tuple, Counter] = defaultdict(Counter)
    for cell in cells:
        if cell[OUTCOME] != "timeout":
            by_cell[(cell[WORKFLOW], cell[STEP], cell[REVIEWER])].update(cell[DURATIONS])
    for (name, step, reviewer), durations in by_cell.items():
        groups["workflow"][(name,)].update(durations)
        groups["step"][(name, step)].update(durations)
        groups["reviewer"][(reviewer,)].update(durations)
    keys = {"workflow": ("workflow_name",), "step": ("workflow_name", "step_name"), "reviewer": ("resolved_by_name",)}
    out = {}
    for dimension, histograms in groups.items():
        rows = []
        for key, durations in histograms.items():
            ordered = sorted((int(b), n) for b, n in durations.items())
            total = sum(n for _b, n in ordered)
            rows.append((key, total, estimate(ordered, total, 0.5), estimate(ordered, total, 0.9)))
        out[dimension] = _percentile_rows(keys[dimension], rows)
    return out


def estimate(histogram: list[tuple[int, int]], total: int, fraction: float) -> float:
    """``percentile`` of ``total`` durations known by their histogram (``(bucket, count)`` in
    order): the durations of a bucket taken as evenly spread over it."""

    def nth(rank: int) -> float:
        before = 0
        for number, count in histogram:
            if rank < before + count:
                low, high = bucket_bounds(number)
                return low + (high - low) * (rank - before + 0.5) / count
            before += count
        raise ValueError(rank)

    position = fraction * (total - 1)
    low = math.floor(position)
    return nth(low) + (nth(min(low + 1, total - 1)) - nth(low)) * (position - low)


# -- outcomes -------------------------------------------------------------------------------------
def _outcomes(cells: list[tuple]) -> list[dict]:
    """Per step: how many decisions approved, edited, rejected, timed out (and other: retries),
    with rates (fractions of the step's decisions)."""
    steps: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOME_NAMES, 0))
    for cell in cells:
        steps[(cell[WORKFLOW], cell[STEP])][cell[OUTCOME]] += cell[DECISIONS]
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
def _per_day(cells: list[tuple], period: Period) -> list[dict]:
    """Decisions per day of the period (every day, zeros included), people and timeouts apart."""
    counts: dict[date, dict[str, int]] = defaultdict(lambda: {"decisions": 0, "timeouts": 0})
    for cell in cells:
        counts[cell[DAY]]["timeouts" if cell[OUTCOME] == "timeout" else "decisions"] += cell[DECISIONS]
    return [{"day": day, **counts.get(day, {"decisions": 0, "timeouts": 0})} for day in period.days]


# Beyond this many days, the dashboard draws a bar per week; beyond the second, per month.
PER_WEEK_AFTER, PER_MONTH_AFTER = 92, 732


def decisions_per_interval(data: Figures) -> tuple[str, list[dict]]:
    """The decisions per day of ``data`` per day, week (from Monday) or month, as the period's
    length asks (at most about 120 bars): the unit, and ``[{label, decisions, timeouts}]``."""
    days = len(data.decisions_per_day)
    if days <= PER_WEEK_AFTER:
        return "day", [
            {"label": row["day"].isoformat(), "decisions": row["decisions"], "timeouts": row["timeouts"]}
            for row in data.decisions_per_day
        ]
    unit = "week" if days <= PER_MONTH_AFTER else "month"
    out: dict[date, dict] = {}
    for row in data.decisions_per_day:
        day = row["day"]
        start = day - timedelta(days=day.weekday()) if unit == "week" else day.replace(day=1)
        label = start.isoformat() if unit == "week" else start.strftime("%Y-%m")
        entry = out.setdefault(start, {"label": label, "decisions": 0, "timeouts": 0})
        entry["decisions"] += row["decisions"]
        entry["timeouts"] += row["timeouts"]
    return unit, list(out.values())


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
