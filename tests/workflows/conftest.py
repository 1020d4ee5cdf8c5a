"""A run to look at and a synchronous worker."""

from __future__ import annotations

import pytest

from workflows import dispatch, registry, services
from workflows.models import WorkflowRun


@pytest.fixture
def paused_run(operator) -> WorkflowRun:
    """A data_export run paused at its "export" confirmation (run synchronously)."""
    out = registry.get("data_export").run("crm", user=operator)
    return WorkflowRun.objects.get(id=out.run_id)


@pytest.fixture
def sync_worker():
    """Runs scheduled continuations in the calling thread (with on-commit callbacks executed)."""
    dispatch.set_backend(lambda run_id: services.run_advance(run_id=run_id))
    yield
    dispatch.set_backend(None)
