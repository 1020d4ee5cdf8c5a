"""The hot path's hand-built statements give what the ORM gives."""

from datetime import UTC, datetime

import pytest

from workflows import rows
from workflows.models import RunEvent, WorkflowRun

pytestmark = pytest.mark.django_db

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_insert_select_update_round_trip_as_the_orm_reads_them():
    run = WorkflowRun.objects.create(workflow_name="w", fingerprint="f", input={"a": [1, "é"]})
    n = rows.MAX_ROWS_PER_INSERT * 2 + 3  # three statements
    rows.insert(
        RunEvent,
        ("run", "seq", "event", "path", "step_name", "data", "memo", "created_at"),
        [(run.id, i, "E", "", "", {"i": i}, None if i % 2 else {"m": i}, T) for i in range(1, n + 1)],
    )
    events = list(RunEvent.objects.filter(run=run).order_by("seq"))
    assert [(e.seq, e.data, e.memo, e.created_at) for e in events] == [
        (i, {"i": i}, None if i % 2 else {"m": i}, T) for i in range(1, n + 1)
    ]
    (row,) = rows.instances(WorkflowRun, id=run.id)
    assert (row.id, row.input, row.created_at, row.created_by_id) == (run.id, {"a": [1, "é"]}, run.created_at, None)
    assert rows.select(RunEvent, ("seq", "data"), order_by=("seq",), run=run.id)[:2] == [[1, {"i": 1}], [2, {"i": 2}]]
    assert rows.update(WorkflowRun, {"error": "x"}, id=run.id, version=99) == 0  # a compare-and-set
    assert rows.update(WorkflowRun, {"error": "x"}, returning=("version",), id=run.id, version=0) == [(0,)]
    assert WorkflowRun.objects.get(id=run.id).error == "x"
    assert rows.instances(WorkflowRun, id="5f0e0b7e-0000-0000-0000-000000000000") == []
