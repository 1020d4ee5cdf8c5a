"""GET /api/v1/decisions/export: the audit trail as CSV or JSON, for what the caller may inspect."""

from __future__ import annotations

import csv
import io
import json

import pytest

from approvals.models import Decision
from tests.factories import workflow_permissions
from workflows import services

from .conftest import pending

pytestmark = pytest.mark.django_db


def download(client, query: str):
    response = client.get(f"/api/v1/decisions/export?{query}")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def decided(reviewer):
    """Two decisions: rita confirms a data_export gate and rejects another with feedback."""
    first = pending("data_export")
    services.requirement_resolve(requirement_id=first.id, user=reviewer, action="confirm")
    second = pending("data_export")
    services.requirement_resolve(requirement_id=second.id, user=reviewer, action="reject", data={"feedback": "no"})
    return first, second


def test_export__json_rows_with_the_requirement_and_decider(reviewer_client, decided):
    first, second = decided
    rows = json.loads(download(reviewer_client, "format=json"))
    assert [r["requirement_id"] for r in rows] == [str(second.id), str(first.id)]  # newest first
    assert rows[0]["action"] == "reject" and rows[0]["data"] == {"feedback": "no"}
    assert rows[0]["user"] == "rita" and rows[0]["workflow"] == "data_export"
    assert rows[0]["step_name"] == "export" and rows[0]["kind"] == "confirmation"
    assert rows[0]["run_id"] == str(second.run_id)
    assert len(rows[0]["shown_hash"]) == 64


def test_export__csv_and_filters(reviewer_client, decided):
    rows = list(csv.DictReader(io.StringIO(download(reviewer_client, "format=csv&action=confirm"))))
    assert [r["action"] for r in rows] == ["confirm"]
    assert rows[0]["user"] == "rita"
    assert download(reviewer_client, "format=csv&user=nobody").count("\n") == 1  # the header only
    assert json.loads(download(reviewer_client, "format=json&workflow=blog_post")) == []
    assert json.loads(download(reviewer_client, "format=json&since=2999-01-01")) == []


def test_export__only_decisions_on_requirements_the_caller_may_inspect(client, decided, outsider):
    assert Decision.objects.count() == 2
    client.force_login(outsider)
    assert json.loads(download(client, "format=json")) == []
    outsider.user_permissions.add(*workflow_permissions("view_requirement"))  # an auditor
    outsider = type(outsider).objects.get(pk=outsider.pk)
    client.force_login(outsider)
    assert len(json.loads(download(client, "format=json"))) == 2


@pytest.mark.parametrize(("query", "field"), [("format=xml", "format"), ("since=nope", "since")])
def test_export__bad_parameters_are_400(reviewer_client, query, field):
    response = reviewer_client.get(f"/api/v1/decisions/export?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_export__needs_authentication(client):
    assert client.get("/api/v1/decisions/export").status_code == 401
