"""The Celery adapter: a connection that broke while the worker was idle costs one retry."""

import pytest
from django.db import OperationalError

from workflows import services, tasks


def test_a_task_whose_database_connection_broke_runs_once_more(monkeypatch):
    calls = []

    def advance(*, run_id):
        calls.append(run_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "run_advance", advance)
    tasks.advance_run("r1")
    assert calls == ["r1", "r1"]


def test_a_task_failing_again_fails(monkeypatch):
    def advance(*, run_id):
        raise OperationalError("the database is down")

    monkeypatch.setattr(services, "run_advance", advance)
    with pytest.raises(OperationalError):
        tasks.advance_run("r1")
