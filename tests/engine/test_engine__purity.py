"""The engine is pure Python: it imports without Django and imports no django/celery/channels."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import workflows.engine

ENGINE_DIR = Path(workflows.engine.__file__).resolve().parent
PROJECT_DIR = ENGINE_DIR.parents[1]
FORBIDDEN = ("django", "celery", "channels", "kombu", "redis", "asgiref")


def test_engine_imports_with_django_unconfigured():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys\n"
        "import workflows.engine as e\n"
        "wf = e.Workflow('w', [lambda si: 'ok'], store=e.MemoryStore())\n"
        "assert wf.run().content == 'ok'\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_no_engine_module_imports_a_framework():
    offenders = []
    for path in sorted(ENGINE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_public_api_names():
    names = (
        "Workflow Step Steps Loop Router Condition Parallel HumanReview OnReject OnTimeout OnError UserInputField "
        "StepInput StepOutput RunStatus pause tool ScriptedAgent ToolCall"
    ).split()
    missing = [n for n in names if not hasattr(workflows.engine, n)]
    assert missing == []
    assert [s.value for s in workflows.engine.RunStatus] == [
        "PENDING",
        "RUNNING",
        "PAUSED",
        "COMPLETED",
        "CANCELLED",
        "ERROR",
    ]
    assert {e.value for e in workflows.engine.OnReject} == {"skip", "cancel", "retry", "else"}
    assert {e.value for e in workflows.engine.OnTimeout} == {"approve", "reject", "skip", "cancel"}
    assert {e.value for e in workflows.engine.OnError} == {"fail", "skip", "pause"}
