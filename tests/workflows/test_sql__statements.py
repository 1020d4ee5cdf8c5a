"""The hot path's hand-built statements give what the ORM gives."""

from datetime import UTC, datetime

import pytest

from workflows.models import RunEvent, WorkflowRun
from workflows.store import sql

pytestmark = pytest.mark.django_db

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_insert_select_update_round_trip_as_the_orm_reads_them():
    run = WorkflowRun.objects.create(workflow_name="w", fingerprint="f", input={"a": [1, "é"]})
    n = sql.MAX_ROWS_PER_INSERT * 2 + 3  # three statements
    sql.insert(
        RunEvent,
        [
            {"run": run.id, "seq": i, "event": "E", "path": "", "step_name": "", "data": {"i": i}}
            | {"memo": {"m": i} if i % 2 == 0 else None, "created_at": T}
            for i in range(1, n + 1)
        ],
    )
    events = list(RunEvent.objects.filter(run=run).order_by("seq"))
    assert [(e.seq, e.data, e.memo, e.created_at) for e in events] == [
        (i, {"i": i}, None if i % 2 else {"m": i}, T) for i in range(1, n + 1)
    ]
    (row,) = sql.instances(WorkflowRun, id=run.id)
    assert (row.id, row.input, row.created_at, row.created_by_id) == (run.id, {"a": [1, "é"]}, run.created_at, None)
    assert sql.select(RunEvent, ("seq", "data"), order_by=("seq",), run=run.id)[:2] == [[1, {"i": 1}], [2, {"i": 2}]]
    assert sql.update(WorkflowRun, {"error": "x"}, id=run.id, version=99) == 0  # a compare-and-set
    assert sql.update(WorkflowRun, {"error": "x"}, returning=("version",), id=run.id, version=0) == [(0,)]
    assert WorkflowRun.objects.get(id=run.id).error == "x"
    assert sql.instances(WorkflowRun, id="5f0e0b7e-0000-0000-0000-000000000000") == []


def test_rows_must_all_have_the_same_fields():
    run = WorkflowRun.objects.create(workflow_name="w", fingerprint="f")
    row = {"run": run.id, "seq": 1, "event": "E", "path": "", "step_name": "", "data": {}, "created_at": T}
    for wrong in ({**row, "memo": None}, {k: v for k, v in row.items() if k != "data"}):
        with pytest.raises(ValueError, match="row fields"):
            sql.insert(RunEvent, [row, {**wrong, "seq": 2}])
    assert not RunEvent.objects.filter(run=run).exists()
