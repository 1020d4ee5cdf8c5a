"""A paused run to look at."""

from __future__ import annotations

import pytest

from workflows import registry
from workflows.models import WorkflowRun


@pytest.fixture
def paused_run(operator) -> WorkflowRun:
    """A data_export run paused at its "export" confirmation (run synchronously)."""
    out = registry.get("data_export").run("crm", user=operator)
    return WorkflowRun.objects.get(id=out.run_id)
