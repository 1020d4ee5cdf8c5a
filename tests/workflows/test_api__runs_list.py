"""GET /api/v1/runs (filters, cursor pagination, visibility) and GET /api/v1/runs/export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from workflows import selectors
from workflows.models import WorkflowRun

pytestmark = pytest.mark.django_db


def make_runs(n: int, *, user=None, workflow="data_export", status="COMPLETED", start=None, **fields):
    start = start or timezone.now() - timedelta(days=1)
    return [
        WorkflowRun.objects.create(
            workflow_name=workflow, status=status, created_by=user, created_at=start + timedelta(minutes=i), **fields
        )
        for i in range(n)
    ]


def ids(body) -> list[str]:
    return [r["id"] for r in body["results"]]


def test_list__newest_first_with_summary_fields(client, operator):
    older, newer = make_runs(2, user=operator)
    client.force_login(operator)
    response = client.get("/api/v1/runs")
    assert response.status_code == 200
    body = response.json()
    assert ids(body) == [str(newer.id), str(older.id)]
    assert body["next"] is None
    first = body["results"][0]
    assert first["workflow"] == "data_export" and first["status"] == "COMPLETED"
    assert first["created_by"] == "olga" and first["rerun_of"] is None
    assert first["links"]["page"] == f"/runs/{newer.id}/"
    assert "state" not in first and "step_results" not in first


def test_list__cursor_pages_cover_every_run_once_even_with_equal_timestamps(client, operator):
    same = timezone.now() - timedelta(hours=1)
    runs = [WorkflowRun.objects.create(workflow_name="data_export", created_at=same) for _ in range(5)]
    runs += make_runs(6)
    client.force_login(operator)
    seen, url, pages = [], "/api/v1/runs?limit=4", 0
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 4
        seen += ids(body)
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(str(r.id) for r in runs)
    assert len(seen) == len(set(seen))
    expected = [str(r.id) for r in WorkflowRun.objects.order_by("-created_at", "-id")]
    assert seen == expected


def test_list__a_new_run_does_not_shift_the_next_page(client, operator):
    make_runs(3)
    client.force_login(operator)
    first = client.get("/api/v1/runs?limit=2").json()
    make_runs(1, start=timezone.now())  # newer than everything: belongs before page one
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert not set(ids(first)) & set(ids(second))


def test_list__page_size_is_bounded(client, operator):
    client.force_login(operator)
    response = client.get("/api/v1/runs?limit=201")
    assert response.status_code == 400
    assert "limit" in response.json()["errors"]


def test_list__filters(client, operator, make_user):
    other = make_user("sam", "start_run")
    now = timezone.now()
    [old] = make_runs(1, user=operator, start=now - timedelta(days=10))
    [mine] = make_runs(1, user=operator, start=now - timedelta(hours=2))
    [theirs] = make_runs(1, user=other, status="ERROR", start=now - timedelta(hours=1))
    [other_flow] = make_runs(1, user=other, workflow="blog_post", start=now - timedelta(minutes=30))
    client.force_login(operator)

    def query(params: str) -> set[str]:
        response = client.get(f"/api/v1/runs?{params}")
        assert response.status_code == 200, response.content
        return set(ids(response.json()))

    assert query("workflow=blog_post") == {str(other_flow.id)}
    assert query("status=ERROR") == {str(theirs.id)}
    assert query("started_by=olga") == {str(old.id), str(mine.id)}
    since = (now - timedelta(days=1)).isoformat()
    assert query(f"since={since.replace('+', '%2B')}") == {str(mine.id), str(theirs.id), str(other_flow.id)}
    until = (now - timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert query(f"until={until}") == {str(old.id), str(mine.id)}  # until is exclusive
    assert query(f"started_by=sam&until={until}") == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ("status=DONE", "status"),
        ("since=yesterday", "since"),
        ("until=2026-13-40", "until"),
        ("since=2026-02-02&until=2026-02-01", "until"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "QUJD", "cursor"),
        ("limit=-1", "limit"),
        ("limit=x", "limit"),
    ],
)
def test_list__bad_filters_are_400_per_field(client, operator, params, field):
    client.force_login(operator)
    response = client.get(f"/api/v1/runs?{params}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_list__only_runs_the_caller_may_see(client, operator, outsider):
    [theirs] = make_runs(1, user=operator)
    [own] = make_runs(1, user=outsider)
    client.force_login(outsider)
    listed = set(ids(client.get("/api/v1/runs").json()))
    assert listed == {str(own.id)}
    assert listed == {str(i) for i in selectors.runs_visible_to(outsider).values_list("id", flat=True)}
    exported = b"".join(client.get("/api/v1/runs/export?format=csv").streaming_content).decode()
    assert str(own.id) in exported and str(theirs.id) not in exported


def test_list__needs_authentication(client):
    assert client.get("/api/v1/runs").status_code == 401
    assert client.get("/api/v1/runs/export").status_code == 401


# -- export ---------------------------------------------------------------------------------------
def test_export__csv_with_one_row_per_run_and_json_cells(client, operator):
    [run] = make_runs(1, user=operator, input={"source": "crm"}, additional_data={"a": 1})
    make_runs(1, workflow="blog_post")
    client.force_login(operator)
    response = client.get("/api/v1/runs/export?format=csv&workflow=data_export")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="runs.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["id"] == str(run.id)
    assert json.loads(rows[0]["input"]) == {"source": "crm"}
    assert rows[0]["created_by"] == "olga"
    assert rows[0]["rerun_of"] == ""


def test_export__json_is_an_array_with_the_same_rows(client, operator):
    runs = make_runs(3, user=operator, input="x")
    client.force_login(operator)
    response = client.get("/api/v1/runs/export?format=json")
    assert response.status_code == 200
    body = json.loads(b"".join(response.streaming_content))
    assert [r["id"] for r in body] == [str(r.id) for r in reversed(runs)]
    assert body[0]["input"] == "x"


def test_export__csv_neutralises_spreadsheet_formulas(client, operator):
    make_runs(1, user=operator, input='=HYPERLINK("http://evil")')
    client.force_login(operator)
    text = b"".join(client.get("/api/v1/runs/export?format=csv").streaming_content).decode()
    row = list(csv.DictReader(io.StringIO(text)))[0]
    assert row["input"].startswith("'")


def test_export__bad_format_is_400(client, operator):
    client.force_login(operator)
    response = client.get("/api/v1/runs/export?format=xml")
    assert response.status_code == 400
    assert "format" in response.json()["errors"]
