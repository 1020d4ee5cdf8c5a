"""What the inbox and a decision page show a user: built once here for the pages (``views``) and
for the sockets that re-render their live parts (``consumers``), so a push equals a reload."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db.models.fields.json import KT
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from workflows import registry, teams
from workflows.engine.requirements import ACTIONS
from workflows.models import Requirement

from . import selectors
from .forms import DecisionForm

INBOX_PAGE_SIZE = 25
# Kinds whose page has a form of its own besides Reject.
KINDS_WITH_INPUT = ("user_input", "executor_user_input", "route_selection", "external_execution")


def _workflow_names(current: str) -> list[str]:
    """Registered workflows, plus the one filtered on if it is not (any more) registered."""
    names = [wf.name for wf in registry.all_workflows()]
    return sorted({*names, current}) if current and current not in names else names


class CappedPaginator(Paginator):
    """Counts at most ``COUNT_CAP + 1`` rows: the first page of a 100,000-item inbox costs what a
    1,000-item one does. Pages past the cap are still reachable through filters and search."""

    @cached_property
    def count(self) -> int:
        return selectors.capped_count(self.object_list)

    def page(self, number):
        # Slice by page size alone: the (capped) count must not shorten the last counted page.
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


def _filter_text(text: str) -> str:
    # No name holds a NUL, and PostgreSQL refuses one even in a query: dropped, not a 500.
    return text.replace("\x00", "")[:200]


INBOX_FILTER_NAMES = ("workflow", "kind", "assigned", "q", "sort")


def inbox_filters(params: QueryDict) -> selectors.InboxFilters:
    """The inbox filters these query parameters ask for; unknown values are ignored."""
    kind = params.get("kind", "")
    assigned = params.get("assigned", "")
    sort = params.get("sort", "")
    return selectors.InboxFilters(
        workflow=_filter_text(params.get("workflow", "")),
        kind=kind if kind in Requirement.Kind.values else "",
        assigned=assigned if assigned in (selectors.ASSIGNED_TO_ME, selectors.ASSIGNED_TO_MY_GROUPS) else "",
        q=_filter_text(params.get("q", "")).strip(),
        sort=sort if sort in selectors.SORT_LABELS else "",
    )


def inbox_query(filters: selectors.InboxFilters) -> str:
    """The filters as a query string (no page): carried from the inbox through decision pages, so
    "next item" and "back to the inbox" stay within what the reviewer was looking at."""
    values = {name: getattr(filters, name) for name in INBOX_FILTER_NAMES if getattr(filters, name)}
    query = QueryDict(mutable=True)
    query.update(values)
    return query.urlencode()


def inbox_context(*, user, params: QueryDict) -> dict:
    """What the inbox shows ``user`` for these query parameters: the page and the live-update
    consumer (approvals.consumers) render the same context, so a push equals a reload."""
    kinds = Requirement.Kind.choices
    filters = inbox_filters(params)
    sort = filters.sort or selectors.DEFAULT_SORT
    requirements = (
        selectors.inbox_requirements(user=user, filters=filters, sort=sort)
        .select_related("claimed_by")
        .prefetch_related("assignees", "groups", "approvals")
        # What is asked: the message, else the tool's name (read from the payload by the
        # database: a payload may be a large output).
        .annotate(tool_name=KT("payload__tool"))
        .only(
            "id",
            "run_id",
            "workflow_name",
            "step_name",
            "kind",
            "created_at",
            "timeout_at",
            "message",
            "priority",
            "due_at",
            "status",
            "approvals_required",
            "approvals_per_group",
            "claimed_by__username",
            "version",
        )
    )
    page_obj = CappedPaginator(requirements, INBOX_PAGE_SIZE).get_page(params.get("page"))
    now = timezone.now()
    for row in page_obj.object_list:  # evaluated once here; the template reuses the rows
        row.approvals_needed = teams.approvals_needed(row) if teams.is_quorum(row) else 0
        row.assignment = teams.assignment_label(row)
        row.overdue = bool(row.due_at and row.due_at <= now)
    query = params.copy()
    query.pop("page", None)
    live = params.copy()
    live.pop("table", None)
    context = {
        "page_obj": page_obj,
        "filters": filters,
        "kinds": kinds,
        "workflow_names": _workflow_names(filters.workflow),
        "sort": sort,
        "sort_labels": selectors.SORT_LABELS,
        "query_without_page": f"{query.urlencode()}&" if query else "",
        "live_query": live.urlencode(),
        "inbox_query": inbox_query(filters),
    }
    if not filters.active:  # the table's total is the nav badge's count: no second query
        context["inbox_pending_count"] = page_obj.paginator.count
    return context


def decision_context(
    *,
    user,
    req: Requirement,
    form: DecisionForm,
    mode: str = "decide",
    edit_diff=None,
    preview_token: str = "",
    inbox_query: str = "",
) -> dict:
    """What the decision panel and the team part show ``user``: the page and the live consumer
    (approvals.consumers) render the same, so a push equals a reload."""
    payload = req.payload or {}
    descriptions = payload.get("descriptions") or {}
    context = {
        "inbox_query": inbox_query,
        "inbox_url": f"{reverse('approvals:inbox')}?{inbox_query}" if inbox_query else reverse("approvals:inbox"),
        "req": req,
        "run": req.run,
        "payload": payload,
        "form": form,
        "mode": mode,
        "output_is_text": isinstance(payload.get("output"), str),
        "routes": [{"name": c, "description": descriptions.get(c, "")} for c in payload.get("choices", [])],
        "can_reject": req.is_pending and "reject" in ACTIONS.get(req.kind, ()),
        "edit_diff": edit_diff,
        "preview_token": preview_token,
        "kinds_with_input": KINDS_WITH_INPUT,
        "workflow_unavailable": req.is_pending and not registry.is_registered(req.workflow_name),
    }
    context["team"] = selectors.team_view(user=user, requirement=req)
    return context
