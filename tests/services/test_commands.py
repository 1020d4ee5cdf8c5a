"""``manage.py start_run`` and ``manage.py sweep``."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.services.conftest import BASE_DIR
from workflows import registry
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


def run_command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_start_run_prints_the_id_of_the_run_it_started(sent_runs, probe, make_user):
    make_user("olga")
    run_id = run_command(
        "start_run",
        "test_svc_gated",
        "--input",
        '{"customer": 42}',
        "--additional-data",
        f'{{"tag": "{probe.tag}"}}',
        "--user",
        "olga",
    )
    run = WorkflowRun.objects.get(id=run_id)
    assert run.workflow_name == "test_svc_gated" and run.input == {"customer": 42}
    assert run.additional_data == {"tag": probe.tag} and run.created_by.username == "olga"
    assert sent_runs == [run_id]  # handed to the workers like any other run


def test_start_run_without_input_starts_with_null(sent_runs):
    run = WorkflowRun.objects.get(id=run_command("start_run", "test_svc_gated"))
    assert run.input is None and run.created_by is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No workflow named 'nope'. Registered: "),
        (["test_svc_gated", "--input", "not json"], "--input must be JSON"),
        (["test_svc_gated", "--additional-data", "[1]"], "--additional-data must be a JSON object"),
        (["test_svc_gated", "--additional-data", "{"], "--additional-data must be JSON"),
        (["test_svc_gated", "--input", "[1e400]"], "--input: Numbers must be finite"),
        (["test_svc_gated", "--input", '"a\\u0000"'], "--input: Null characters"),
        (["test_svc_gated", "--input", "[" * 50_000], "Nested too deeply"),
        (["test_svc_gated", "--user", "ghost"], "No user named 'ghost'."),
    ],
)
def test_start_run_refuses_bad_arguments_and_starts_nothing(sent_runs, args, message):
    with pytest.raises(CommandError, match=message.replace(".", r"\.").replace("[", r"\[")):
        run_command("start_run", *args)
    assert not WorkflowRun.objects.exists() and sent_runs == []


def test_start_run_exits_with_1_and_a_clear_message():
    # manage.py in a process of its own: what an operator sees. It fails before touching the database.
    result = subprocess.run(
        [sys.executable, "manage.py", "start_run", "test_svc_gated", "--input", "{oops"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CommandError: --input must be JSON" in result.stderr and result.stdout == ""


def test_sweep_fires_due_timeouts_and_prints_counts(sent_runs, probe):
    out = registry.get("test_svc_timed").run("in", additional_data=probe.extra())
    assert run_command("sweep") == "expired=0 recovered=0"
    Requirement.objects.filter(run_id=out.run_id).update(timeout_at=timezone.now() - timedelta(seconds=1))
    assert run_command("sweep") == "expired=1 recovered=0"
    assert Requirement.objects.get(run_id=out.run_id).status == "EXPIRED"
    assert sent_runs == [out.run_id]
