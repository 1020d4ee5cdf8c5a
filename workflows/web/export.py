"""Runs as CSV and JSON, streamed: the export endpoints and the run list's "Export" links.

Rows are read with ``iterator()`` and written as they come, so an export of many runs holds one
chunk in memory, not the whole table. The approvals app exports decisions with the same writers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from workflows.models import WorkflowRun

FORMATS = ("csv", "json")
CHUNK = 500
# A spreadsheet runs a cell that starts with one of these as a formula: such text gets a leading
# apostrophe in CSV so that an input like "=HYPERLINK(...)" stays text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

RUN_COLUMNS = (
    "id",
    "workflow",
    "status",
    "pause_kind",
    "paused_step_name",
    "created_by",
    "created_at",
    "finished_at",
    "rerun_of",
    "input",
    "additional_data",
    "content",
    "error",
)


def run_export_row(run: WorkflowRun) -> dict:
    paused = run.status == WorkflowRun.Status.PAUSED
    return {
        "id": str(run.id),
        "workflow": run.workflow_name,
        "status": run.status,
        "pause_kind": (run.pause_kind or None) if paused else None,
        "paused_step_name": (run.paused_step_name or None) if paused else None,
        "created_by": run.created_by.get_username() if run.created_by else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "rerun_of": str(run.rerun_of_id) if run.rerun_of_id else None,
        "input": run.input,
        "additional_data": run.additional_data,
        "content": run.content,
        "error": run.error or None,
    }


def runs_for_export(runs: QuerySet[WorkflowRun]) -> QuerySet[WorkflowRun]:
    return runs.select_related("created_by").defer("state").order_by("-created_at", "-id")


def export_response(
    *, rows: Iterable, columns: tuple[str, ...], to_dict: Callable[[object], dict], fmt: str, filename: str
) -> StreamingHttpResponse:
    """A streamed download of ``rows`` (converted by ``to_dict``) as CSV or a JSON array."""
    items = (to_dict(row) for row in rows)
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_lines(items, columns), content_type="text/csv; charset=utf-8")
        extension = "csv"
    else:
        response = StreamingHttpResponse(_json_chunks(items), content_type="application/json")
        extension = "json"
    response["Content-Disposition"] = f'attachment; filename="{filename}.{extension}"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (dict, list, bool, int, float)):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
    value = str(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_lines(items: Iterator[dict], columns: tuple[str, ...]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for item in items:
        yield writer.writerow([_cell(item.get(column)) for column in columns])


def _json_chunks(items: Iterator[dict]) -> Iterator[str]:
    yield "["
    for n, item in enumerate(items):
        yield ("," if n else "") + "\n" + json.dumps(item, cls=DjangoJSONEncoder, ensure_ascii=False)
    yield "\n]\n"
