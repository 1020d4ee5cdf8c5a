"""The inbox's first page with 1,000 and with 100,000 pending requirements, side by side, in
every sort order (due, priority, deadline, age).

Target: at most 1.5x the time with 100x the rows, and at most 11 SQL queries either way, for each
order. Rows mix priorities, due dates, deadlines and claims as a team's inbox does.
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

    from workflows.engine import keys
    from workflows.models import NO_DATE, Requirement, WorkflowRun

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
        priorities = ("low", "normal", "normal", "high", "urgent")
        for n, run in enumerate(runs):
            for k in range(per_run):
                i = start + n * per_run + k
                due_at = now + timezone.timedelta(minutes=i % 997) if i % 3 == 0 else None
                timeout_at = now + timezone.timedelta(hours=1 + i % 89) if i % 5 == 0 else None
                priority = priorities[i % 5]
                reqs.append(
                    Requirement(
                        priority=priority,
                        priority_rank=Requirement.PRIORITY_RANKS[priority],
                        due_at=due_at,
                        timeout_at=timeout_at,
                        due_sort=min(d for d in (due_at, timeout_at, NO_DATE) if d is not None),
                        deadline_sort=timeout_at or NO_DATE,
                        approvals_required=2 if i % 7 == 0 else 1,
                        id=uuid.uuid4(),
                        run=run,
                        key=keys.requirement(str(k), "confirmation", 0),
                        path=str(k),
                        step_name=f"step_{k}",
                        kind="confirmation",
                        workflow_name=workflow,
                        message="Go ahead?",
                        created_at=now - timezone.timedelta(seconds=start + n * per_run + k),
                    )
                )
        Requirement.objects.bulk_create(reqs, batch_size=5_000)


SORTS = ("due", "priority", "deadline", "age")


def _measure(client, sort: str, n: int = 20) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/inbox/?sort={sort}"
    client.get(url)  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
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
        small_runs = {sort: _measure(client, sort) for sort in SORTS}
        _fill(large - small, workflow="bench")
        large_runs = {sort: _measure(client, sort) for sort in SORTS}
    rows = []
    for sort in SORTS:
        (small_ms, small_q), (large_ms, large_q) = small_runs[sort], large_runs[sort]
        ratio = large_ms / small_ms
        rows += [
            dict(
                name=f"inbox first page, sort={sort}: {large:,} vs {small:,} pending",
                value=f"{large_ms:.1f} / {small_ms:.1f} ms",
                ratio=ratio,
                target="<= 1.50",
                ok=ratio <= 1.5,
            ),
            dict(
                name=f"inbox SQL queries, sort={sort} (large / small)",
                value=f"{large_q} / {small_q}",
                ratio=None,
                target="<= 11",
                ok=max(large_q, small_q) <= 11,
            ),
        ]
    return rows


if __name__ == "__main__":
    for row in main(quick="--quick" in sys.argv):
        print(row)
