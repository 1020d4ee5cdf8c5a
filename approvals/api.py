"""The reviewer app's part of ``/api/v1/``: the audit trail of decisions, exported.

The API's plumbing (auth, JSON errors) and the export writers are the workflows app's; who may see
a decision is who may inspect its requirement (``requirements_inspectable_by``).
"""

from __future__ import annotations

from django import forms

from workflows import selectors
from workflows.web import export
from workflows.web.api import ApiError, api_view
from workflows.web.forms import FilterDateTimeField

from .models import Decision

DECISION_COLUMNS = (
    "id",
    "run_id",
    "workflow",
    "requirement_id",
    "step_name",
    "kind",
    "user",
    "action",
    "created_at",
    "data",
    "diff",
    "shown_hash",
)


class DecisionQueryForm(forms.Form):
    """``since`` inclusive, ``until`` exclusive (ISO 8601), like the runs' filters."""

    workflow = forms.CharField(required=False, max_length=200)
    user = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=20)
    since = FilterDateTimeField(required=False)
    until = FilterDateTimeField(required=False)


def decisions_visible_to(user):
    """Decisions on requirements ``user`` may inspect, newest first."""
    requirements = selectors.requirements_inspectable_by(user).values("id")
    return Decision.objects.filter(requirement_id__in=requirements).order_by("-created_at", "-id")


def decision_export_row(decision: Decision) -> dict:
    req = decision.requirement
    return {
        "id": decision.id,
        "run_id": str(decision.run_id),
        "workflow": req.workflow_name,
        "requirement_id": str(decision.requirement_id),
        "step_name": req.step_name,
        "kind": req.kind,
        "user": decision.username,
        "action": decision.action,
        "created_at": decision.created_at,
        "data": decision.data,
        "diff": decision.diff or None,
        "shown_hash": decision.shown_hash,
    }


@api_view("GET")
def decisions_export(request):
    """``GET /api/v1/decisions/export?format=csv|json&workflow=&user=&action=&since=&until=``."""
    fmt = request.GET.get("format", "json")
    if fmt not in export.FORMATS:
        raise ApiError(400, errors={"format": "One of csv, json."})
    form = DecisionQueryForm(request.GET)
    if not form.is_valid():
        raise ApiError(400, errors={field: " ".join(messages) for field, messages in form.errors.items()})
    data = form.cleaned_data
    decisions = decisions_visible_to(request.user)
    if data["workflow"]:
        decisions = decisions.filter(requirement__workflow_name=data["workflow"])
    if data["user"]:
        decisions = decisions.filter(username=data["user"])
    if data["action"]:
        decisions = decisions.filter(action=data["action"])
    if data["since"]:
        decisions = decisions.filter(created_at__gte=data["since"])
    if data["until"]:
        decisions = decisions.filter(created_at__lt=data["until"])
    decisions = decisions.select_related("requirement").only(
        *(f.name for f in Decision._meta.concrete_fields),
        "requirement__workflow_name",
        "requirement__step_name",
        "requirement__kind",
    )
    return export.export_response(
        rows=decisions.iterator(chunk_size=export.CHUNK),
        columns=DECISION_COLUMNS,
        to_dict=decision_export_row,
        fmt=fmt,
        filename="decisions",
    )
