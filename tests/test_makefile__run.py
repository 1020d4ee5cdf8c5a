"""`make run PORT=...`: the port reaches the server's command line, the message it prints and the
links of the mails it sends."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dry_run(*args: str) -> str:
    make = shutil.which("make")
    assert make, "make is needed to build and run the project"
    result = subprocess.run([make, "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8001",), "8001")])
def test_make_run__serves_on_the_given_port(args, port):
    commands = _dry_run(*args)
    daphne = [line for line in commands.splitlines() if "daphne" in line]
    assert len(daphne) == 1
    assert f"-p {port} " in daphne[0]
    assert f"http://127.0.0.1:{port}/" in commands
    assert f'HITL_BASE_URL="${{HITL_BASE_URL:-http://127.0.0.1:{port}}}"' in daphne[0]
