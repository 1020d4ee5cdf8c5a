"""Discovery is atomic and happens at startup: no request sees a half-filled registry."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workflows import registry

SLOW_MODULE = "tests.workflows.slow_flows"


@pytest.fixture
def fresh_registry(monkeypatch, settings):
    """A registry as after a restart, with a workflow module that is slow to import."""
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.delitem(sys.modules, SLOW_MODULE, raising=False)
    settings.HITL_WORKFLOW_MODULES = [SLOW_MODULE]
    yield
    sys.modules.pop(SLOW_MODULE, None)


def test_concurrent_first_lookups_all_find_the_workflow(fresh_registry):
    found, errors = [], []
    start = threading.Barrier(8)

    def lookup():
        start.wait()
        try:
            found.append(registry.get("test_slow_flow").name)
        except registry.WorkflowNotFound as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert found == ["test_slow_flow"] * 8
    assert {wf.name for wf in registry.all_workflows()} >= {"test_slow_flow", "blog_post"}


def test_a_failed_import_is_retried_by_the_next_call(fresh_registry, settings):
    settings.HITL_WORKFLOW_MODULES = ["tests.workflows.no_such_module"]
    with pytest.raises(ModuleNotFoundError):
        registry.get("blog_post")
    settings.HITL_WORKFLOW_MODULES = []
    assert registry.get("blog_post").name == "blog_post"


def test_workflows_are_discovered_when_django_starts():
    code = "import django; django.setup(); from workflows import registry; print(registry._discovered)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={"DJANGO_SETTINGS_MODULE": "hitl_site.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
