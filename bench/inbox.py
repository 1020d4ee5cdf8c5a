"""The inbox's first page with 1,000 and with 100,000 pending requirements, side by side.

Target: at most 1.5x the time with 100x the rows, and at most 10 SQL queries either way.
Runs on a scratch SQLite database (``main()``), like bench/engine_bench.py.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _fill(total: int, *, workflow: str) -> None:
    from django.utils import timezone

    from workflows.models import Requirement, WorkflowRun

    per_run = 100
    now = timezone.now()
    for start in range(0, total, 10_000):
        runs = [
            WorkflowRun(
                workflow_name=workflow,
                fingerprint="bench",
                status="PAUSED",
                created_at=now - timezone.timedelta(seconds=start + i),
            )
            for i in range(0, min(10_000, total - start), per_run)
        ]
        WorkflowRun.objects.bulk_create(runs)
        reqs = []
        for n, run in enumerate(runs):
            for k in range(per_run):
                reqs.append(
                    Requirement(
                        id=uuid.uuid4(),
                        run=run,
                        key=f"{k}:confirmation:0",
                        path=str(k),
                        step_name=f"step_{k}",
                        kind="confirmation",
                        workflow_name=workflow,
                        message="Go ahead?",
                        created_at=now - timezone.timedelta(seconds=start + n * per_run + k),
                    )
                )
        Requirement.objects.bulk_create(reqs, batch_size=5_000)


def _measure(client, n: int = 20) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/inbox/")  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get("/inbox/")
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get("/inbox/")
    return statistics.median(times), len(queries.captured_queries)


def main(quick: bool = False) -> list[dict]:
    from engine_bench import _setup

    with tempfile.TemporaryDirectory(prefix="hitl-inbox-bench-") as tmp:
        _setup(str(Path(tmp) / "inbox.sqlite3"))
        from django.contrib.auth.models import Permission, User
        from django.test import Client

        user = User.objects.create_user("bench")
        user.user_permissions.add(Permission.objects.get(codename="resolve_requirement"))
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        small, large = (1_000, 20_000) if quick else (1_000, 100_000)
        _fill(small, workflow="bench")
        small_ms, small_q = _measure(client)
        _fill(large - small, workflow="bench")
        large_ms, large_q = _measure(client)
    ratio = large_ms / small_ms
    return [
        dict(
            name=f"inbox first page: {large:,} vs {small:,} pending",
            value=f"{large_ms:.1f} / {small_ms:.1f} ms",
            ratio=ratio,
            target="<= 1.50",
            ok=ratio <= 1.5,
        ),
        dict(
            name="inbox SQL queries (large / small)",
            value=f"{large_q} / {small_q}",
            ratio=None,
            target="<= 10",
            ok=max(large_q, small_q) <= 10,
        ),
    ]


if __name__ == "__main__":
    for row in main(quick="--quick" in sys.argv):
        print(row)
