"""The analytics dashboard with 1,000 and with 100,000 decided requirements, side by side.

The dashboard shows a period (the last 30 days unless chosen), and its queries read that period's
rows through indexes. So the two sizes share the same last 30 days (1,000 decisions, runs ending
in them, pending requirements) and differ in history: 99,000 more decisions over the three years
before. Target: at most 2x the time with 100x the rows. The whole history on one page (a period of
ten years) is measured too, for information: that cost grows with the rows it reads.
Runs on a scratch SQLite database, like bench/inbox.py.
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

WORKFLOWS = ("data_export", "blog_post", "onboarding")
STEPS = ("review", "approve", "publish", "allocate", "sign_off")
REVIEWERS = tuple(f"reviewer{i}" for i in range(10))
ACTIONS = ("confirm", "confirm", "confirm", "edit", "reject")


def _fill(total: int, *, newest_seconds_ago: int, spread_seconds: int, pending: int = 0) -> None:
    """``total`` decided requirements (one run per 100) resolved between ``newest_seconds_ago``
    and ``newest_seconds_ago + spread_seconds`` ago, plus ``pending`` pending ones."""
    from django.utils import timezone

    from workflows.engine import keys
    from workflows.models import Requirement, WorkflowRun

    now = timezone.now()
    per_run = 100
    for start in range(0, total, 10_000):
        count = min(10_000, total - start)
        runs = []
        for i in range(0, count, per_run):
            ended = now - timezone.timedelta(seconds=newest_seconds_ago + (start + i) * spread_seconds // total)
            runs.append(
                WorkflowRun(
                    workflow_name=WORKFLOWS[(start + i) // per_run % len(WORKFLOWS)],
                    fingerprint="bench",
                    status=("COMPLETED", "COMPLETED", "ERROR", "CANCELLED")[(start + i) // per_run % 4],
                    created_at=ended - timezone.timedelta(minutes=5),
                    finished_at=ended,
                )
            )
        WorkflowRun.objects.bulk_create(runs)
        reqs = []
        for n in range(count):
            k = start + n
            resolved = now - timezone.timedelta(seconds=newest_seconds_ago + k * spread_seconds // total)
            expired = k % 20 == 0
            reqs.append(
                Requirement(
                    id=uuid.uuid4(),
                    run=runs[n // per_run],
                    key=keys.requirement(str(k), "confirmation", 0),
                    path=str(k),
                    step_name=STEPS[k % len(STEPS)],
                    kind="confirmation",
                    workflow_name=runs[n // per_run].workflow_name,
                    status="EXPIRED" if expired else "RESOLVED",
                    resolution={"action": "timed_out"} if expired else {"action": ACTIONS[k % len(ACTIONS)]},
                    resolved_by_name="system" if expired else REVIEWERS[k % len(REVIEWERS)],
                    resolved_at=resolved,
                    created_at=resolved - timezone.timedelta(seconds=30 + (k * 7919) % 7200),
                )
            )
        Requirement.objects.bulk_create(reqs, batch_size=5_000)
    if pending:
        run = WorkflowRun.objects.create(workflow_name=WORKFLOWS[0], fingerprint="bench", status="PAUSED")
        Requirement.objects.bulk_create(
            [
                Requirement(
                    id=uuid.uuid4(),
                    run=run,
                    key=f"pending{i}",
                    path=f"p{i}",
                    step_name=STEPS[i % len(STEPS)],
                    kind="confirmation",
                    workflow_name=run.workflow_name,
                    created_at=now - timezone.timedelta(hours=i),
                )
                for i in range(pending)
            ]
        )


def _measure(client, url: str, n: int = 15) -> float:
    client.get(url)  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main(quick: bool = False) -> list[dict]:
    from engine_bench import _setup

    day = 86_400
    with tempfile.TemporaryDirectory(prefix="hitl-analytics-bench-") as tmp:
        _setup(str(Path(tmp) / "analytics.sqlite3"))
        from django.contrib.auth.models import User
        from django.test import Client
        from django.utils import timezone

        User.objects.create_superuser("bench", email="")
        client = Client(SERVER_NAME="localhost")
        client.force_login(User.objects.get(username="bench"))
        small, large = (1_000, 20_000) if quick else (1_000, 100_000)
        # The last 30 days: 1,000 decisions over 29 days (the period's first day stays clear of its edge).
        _fill(small, newest_seconds_ago=60, spread_seconds=29 * day, pending=50)
        since = (timezone.localdate() - timezone.timedelta(days=3650)).isoformat()
        history_url = f"/analytics/?since={since}"
        small_ms = _measure(client, "/analytics/")
        small_all_ms = _measure(client, history_url, n=5)
        # History: the rest, over the three years before the period.
        _fill(large - small, newest_seconds_ago=31 * day, spread_seconds=3 * 365 * day)
        large_ms = _measure(client, "/analytics/")
        large_all_ms = _measure(client, history_url, n=3)
    ratio = large_ms / small_ms
    return [
        dict(
            name=f"analytics, last 30 days: {large:,} vs {small:,} decided",
            value=f"{large_ms:.1f} / {small_ms:.1f} ms",
            ratio=ratio,
            target="<= 2.00",
            ok=ratio <= 2.0,
        ),
        dict(
            name=f"analytics, whole history: {large:,} vs {small:,} decided",
            value=f"{large_all_ms:.1f} / {small_all_ms:.1f} ms",
            ratio=large_all_ms / small_all_ms,
            target="(info)",
            ok=None,
        ),
    ]


if __name__ == "__main__":
    for row in main(quick="--quick" in sys.argv):
        print(row)
