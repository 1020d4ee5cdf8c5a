"""Pages for operators: the run list, a run's inspection page, and the workflow catalogue.

Views are thin: reads come from ``selectors``, writes go through ``services``. A run page's live
part is the ``run-live`` partial; ``run_live`` serves it alone for htmx, and the run socket
(``consumers``) re-renders it from the same context (``contexts``).
"""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from workflows import registry, selectors, services
from workflows.engine.errors import RunNotFoundError, RunStateError, ValidationError
from workflows.models import Requirement, WorkflowRun

from . import analytics, charts, export, graph
from .contexts import registered, rerun_form, run_live_context
from .forms import RunFilterForm, RunStartForm

RUNS_PER_PAGE = 25


# -- runs -----------------------------------------------------------------------------------------
def _filtered_runs(request: HttpRequest) -> tuple[RunFilterForm, object]:
    """The run list's filter form and the runs it selects among those the user may see."""
    names = sorted(
        {wf.name for wf in registry.all_workflows()}
        | set(WorkflowRun.objects.order_by().values_list("workflow_name", flat=True).distinct())
    )
    params = request.GET.copy()
    params.pop("page", None)
    form = RunFilterForm(params or None, workflow_names=names)
    runs = selectors.runs_visible_to(request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["workflow"]:
            runs = runs.filter(workflow_name=data["workflow"])
        if data["status"]:
            runs = runs.filter(status=data["status"])
        tz = timezone.get_current_timezone()
        if data["created_from"]:
            runs = runs.filter(created_at__gte=datetime.combine(data["created_from"], time.min, tzinfo=tz))
        if data["created_to"]:
            runs = runs.filter(created_at__lte=datetime.combine(data["created_to"], time.max, tzinfo=tz))
    return form, runs


@login_required
@require_safe
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs the user may see, newest first, filtered and paginated in a fixed number of queries."""
    form, runs = _filtered_runs(request)
    pending = (
        Requirement.objects.filter(run=OuterRef("pk"), status=Requirement.Status.PENDING)
        .order_by()
        .values("run")
        .annotate(n=Count("id"))
        .values("n")
    )
    runs = (
        runs.select_related("created_by")
        .defer("state", "additional_data", "content", "error")
        .annotate(pending_count=Coalesce(Subquery(pending), 0))
        .order_by("-created_at", "-id")
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    filters = form.data.urlencode() if form.is_bound else ""
    context = {"form": form, "page": page, "runs": page.object_list, "export_query": filters}
    return render(request, "workflows/run_list.html", context)


@login_required
@require_safe
def run_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """``/runs/export.csv`` and ``/runs/export.json``: the run list's rows under its filters."""
    _form, runs = _filtered_runs(request)
    return export.export_response(
        rows=export.runs_for_export(runs).iterator(chunk_size=export.CHUNK),
        columns=export.RUN_COLUMNS,
        to_dict=export.run_export_row,
        fmt=fmt,
        filename="runs",
    )


def _run_or_404(request: HttpRequest, run_id) -> WorkflowRun:
    run = selectors.visible_run(request.user, run_id)
    if run is None:
        raise Http404("No such run")
    return run


@login_required
@require_POST
def run_rerun(request: HttpRequest, run_id) -> HttpResponse:
    """Start the run again: with the same input and additional data, or with the edited ones."""
    run = _run_or_404(request, run_id)
    if not selectors.user_may_start_runs(request.user):
        raise PermissionDenied
    form = rerun_form(run, request.POST)
    error = None
    if form.is_valid():
        edits = {}
        for field in ("input", "additional_data"):
            # Unchanged text keeps the original value exactly (a text input "42" stays text).
            # Browsers send a textarea's line breaks as CRLF.
            if (form[field].data or "").replace("\r\n", "\n") != form.initial[field]:
                edits[field] = form.cleaned_data[field]
        try:
            new = services.run_rerun(run_id=run.id, user=request.user, **edits)
        except ValidationError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        except (RunStateError, RunNotFoundError, registry.WorkflowNotFound) as exc:
            error = str(exc)
        else:
            messages.success(request, "Run started again.")
            return redirect("workflows:run-detail", run_id=new.id)
    run.refresh_from_db()
    context = run_live_context(user=request.user, run=run)
    context["workflow_registered"] = registered(run.workflow_name)
    if context["rerun_form"] is not None:
        context["rerun_form"] = form
    context["rerun_error"] = error or ("" if form.is_valid() else "The run was not started again: see below.")
    return render(request, "workflows/run_detail.html", context, status=409 if error else 400)


@login_required
@require_safe
def run_detail(request: HttpRequest, run_id) -> HttpResponse:
    run = _run_or_404(request, run_id)
    context = run_live_context(user=request.user, run=run)
    context["workflow_registered"] = registered(run.workflow_name)
    return render(request, "workflows/run_detail.html", context)


@require_safe
def run_live(request: HttpRequest, run_id) -> HttpResponse:
    """The run page's live part alone (htmx polls it while the run is active).

    To a poll that lost its session or its access, 204: the page keeps what it shows rather than
    swapping a login page or an error into the run's part.
    """
    run = selectors.visible_run(request.user, run_id)
    if run is None:
        if getattr(request, "htmx", False):
            return HttpResponse(status=204)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise Http404("No such run")
    return render(request, "workflows/run_detail.html#run-live", run_live_context(user=request.user, run=run))


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id) -> HttpResponse:
    run = _run_or_404(request, run_id)
    if not selectors.user_may_cancel_runs(request.user):
        raise PermissionDenied
    # Cancelling cannot be undone: the form asks why, and the reason is kept with the run.
    reason = request.POST.get("reason", "").strip()
    if not reason or len(reason) > services.MAX_CANCEL_REASON:
        problem = "Say why you cancel the run." if not reason else "At most 1000 characters."
        return _cancel_refused(request, run, problem, status=400, reason_error=True)
    try:
        services.run_cancel(run_id=run.id, user=request.user, reason=reason)
    except (RunStateError, RunNotFoundError) as exc:
        return _cancel_refused(request, run, str(exc), status=409)
    messages.success(
        request,
        "Run cancelled."
        if run.status != WorkflowRun.Status.RUNNING
        else "Cancellation requested: the run stops after its current step.",
    )
    return redirect("workflows:run-detail", run_id=run.id)


def _cancel_refused(request, run: WorkflowRun, message: str, *, status: int, reason_error: bool = False):
    run.refresh_from_db()
    context = run_live_context(user=request.user, run=run)
    context["workflow_registered"] = registered(run.workflow_name)
    context["cancel_error"] = message
    context["cancel_reason_error"] = reason_error
    context["cancel_reason_value"] = request.POST.get("reason", "")
    return render(request, "workflows/run_detail.html", context, status=status)


# -- analytics ------------------------------------------------------------------------------------
@login_required
@require_safe
def analytics_page(request: HttpRequest) -> HttpResponse:
    """``/analytics/`` for operators and admins (``workflows.view_workflowrun`` or superuser);
    ``?format=csv`` gives the same figures as CSV."""
    if not analytics.user_may_view(request.user):
        raise PermissionDenied
    params = request.GET.copy()
    fmt = params.pop("format", [""])[-1]
    form, period, workflow = analytics.filters_from(params)
    data = analytics.figures(period=period, workflow=workflow) if period else None
    if fmt == "csv" and data is not None:
        return export.export_response(
            rows=analytics.csv_rows(data), columns=analytics.CSV_COLUMNS, to_dict=dict, fmt="csv", filename="analytics"
        )
    unit, per_interval = analytics.decisions_per_interval(data) if data else ("day", [])
    context = {
        "form": form,
        "data": data,
        "unit": unit,
        "per_interval": per_interval,
        "charts": _analytics_charts(data, unit, per_interval) if data else {},
        "query": params.urlencode(),
        "overdue_hours": int(analytics.OVERDUE_AFTER.total_seconds() // 3600),
        "exact_up_to": f"{analytics.EXACT_UP_TO:,}",
    }
    return render(request, "workflows/analytics.html", context, status=200 if data else 400)


def _analytics_charts(data: analytics.Figures, unit: str, per_interval: list[dict]) -> dict:
    by_workflow = data.time_to_decision["workflow"]
    return {
        "per_day": charts.columns(
            f"Decisions per {unit}", [(row["label"], row["decisions"], row["timeouts"]) for row in per_interval]
        ),
        "time_to_decision": charts.horizontal(
            "Time to decision per workflow (p50, p90)",
            [
                (
                    row["workflow"],
                    [(row["p50_seconds"], "wf-chart-a", "p50"), (row["p90_seconds"], "wf-chart-b", "p90")],
                )
                for row in by_workflow
            ],
            unit=" s",
        ),
        "runs": charts.horizontal(
            "Runs ended per workflow",
            [
                (
                    row["workflow"],
                    [
                        (row["completed"], "wf-chart-a", "completed"),
                        (row["failed"], "wf-chart-d", "failed"),
                        (row["cancelled"], "wf-chart-c", "cancelled"),
                    ],
                )
                for row in data.runs_by_workflow
            ],
            stacked=True,
        ),
        "pending": charts.horizontal(
            "Pending and overdue per group",
            [
                (
                    row["group"] or "anyone",
                    [(row["pending"], "wf-chart-a", "pending"), (row["overdue"], "wf-chart-d", "overdue")],
                )
                for row in data.pending_by_group
            ],
        ),
    }


# -- workflow catalogue ---------------------------------------------------------------------------
@login_required
@require_safe
def workflow_list(request: HttpRequest) -> HttpResponse:
    workflows = []
    for wf in registry.all_workflows():
        nodes = wf.describe()
        workflows.append(
            {
                "name": wf.name,
                "description": wf.description,
                "step_count": sum(1 for n in nodes if n["kind"] == "Step"),
                "gate_count": sum(len(_gates(n)) for n in nodes),
            }
        )
    return render(request, "workflows/workflow_list.html", {"workflows": workflows})


@login_required
@require_http_methods(["GET", "POST"])
def workflow_detail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        workflow = registry.get(name)
    except registry.WorkflowNotFound:
        raise Http404(f"No workflow named {name!r}") from None
    may_start = selectors.user_may_start_runs(request.user)
    form = RunStartForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not may_start:
            raise PermissionDenied
        if form.is_valid():
            try:
                run = services.run_start(
                    workflow_name=workflow.name,
                    input=form.cleaned_data["input"],
                    additional_data=form.cleaned_data["additional_data"],
                    user=request.user,
                    key=form.cleaned_data["start_key"],
                )
            except ValidationError as exc:
                for field, message in exc.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                return redirect("workflows:run-detail", run_id=run.id)
        status = 400
    context = {
        "workflow": workflow,
        "graph": graph.build(workflow),
        "tree": definition_tree(workflow.describe()),
        "form": form,
        "may_start": may_start,
    }
    return render(request, "workflows/workflow_detail.html", context, status=status)


# -- describing a definition ----------------------------------------------------------------------
TOOL_GATES = {
    "executor_confirmation": "confirmation",
    "executor_user_input": "user input",
    "external_execution": "result provided by a person",
}
BRANCH_LABELS = {"steps": "", "branches": "In parallel", "if": "If", "else": "Else", "choices": "Routes"}


def definition_tree(nodes: list[dict]) -> list[dict]:
    """Nest ``Workflow.describe()``'s flat list by path (``2/steps/1`` is child 1 of node 2's
    ``steps``); each node gets ``gates`` (human-readable pauses) and ``groups`` of children."""
    by_path = {n["path"]: {**n, "gates": _gates(n), "gate_notes": _gate_notes(n), "groups": {}} for n in nodes}
    roots = []
    for path, node in by_path.items():
        segments = path.split("/")
        parent = by_path.get("/".join(segments[:-2])) if len(segments) > 2 else None
        if parent is None:
            roots.append(node)
        else:
            parent["groups"].setdefault(segments[-2], []).append(node)
    order = list(BRANCH_LABELS)

    def index(node):
        return int(node["path"].rsplit("/", 1)[-1])

    for node in by_path.values():
        groups = sorted(node["groups"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
        node["groups"] = [
            {"key": key, "label": BRANCH_LABELS.get(key, key), "children": sorted(children, key=index)}
            for key, children in groups
        ]
    return sorted(roots, key=index)


def _gates(node: dict) -> list[str]:
    """Where a person takes part in this node, in words."""
    review = node.get("human_review") or {}
    gates = []
    if review.get("requires_confirmation"):
        gates.append(_with_message("Confirmation", review.get("confirmation_message")))
    if review.get("requires_user_input"):
        if node["kind"] == "Router":
            many = " (one or more)" if review.get("allow_multiple_selections") else ""
            gates.append(_with_message(f"Route selection{many}", review.get("user_input_message")))
        else:
            fields = [f["name"] for f in review.get("user_input_schema") or []]
            label = f"User input ({', '.join(fields)})" if fields else "User input"
            gates.append(_with_message(label, review.get("user_input_message")))
    if review.get("requires_output_review"):
        when = " (when its condition holds)" if review["requires_output_review"] == "<predicate>" else ""
        gates.append(_with_message(f"Output review{when}", review.get("output_review_message")))
    if review.get("requires_iteration_review"):
        gates.append(_with_message("Iteration review", review.get("iteration_review_message")))
    if review.get("on_error") == "pause":
        gates.append("Error review: a person retries or skips a failed step")
    for tool in node.get("tools") or []:
        if tool.get("kind"):
            gates.append(f"Tool {tool['name']}: {TOOL_GATES.get(tool['kind'], tool['kind'])}")
    return gates


def _gate_notes(node: dict) -> list[str]:
    """What happens around this node's gates: on reject, timeout, who decides."""
    review = node.get("human_review") or {}
    if not _gates(node) or not review:
        return []
    notes = []
    if review.get("on_reject"):
        notes.append(f"On reject: {review['on_reject']}")
    if review.get("timeout"):
        notes.append(f"Timeout after {_seconds_text(review['timeout'])}, then {review.get('on_timeout')}")
    who = [*review.get("assignees", []), *(f"group {g}" for g in review.get("groups", []))]
    notes.append(f"Decided by {', '.join(who)}" if who else "Decided by anyone who may resolve requirements")
    return notes


def _with_message(label: str, message: str | None) -> str:
    return f"{label}: “{message}”" if message else label


def _seconds_text(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
