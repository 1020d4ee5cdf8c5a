"""The analytics dashboard, its CSV and its JSON with 1,000 and with 100,000 decided requirements in
the period shown (the last 30 days), side by side, on SQLite and on PostgreSQL.

On each database, in turn:
1. 1,000 decisions over the last 30 days (over 29 days: the period's first day stays clear of its
   edge), runs ending with them, 50 pending requirements: measured.
2. 99,000 decisions over the three years before the period: measured (the period holds the same).
3. 99,000 decisions more over the last 30 days, which then hold 100,000: measured.
Target: at most 2x the time of 1 in 2 and in 3, in CPU time (of this process and of its
PostgreSQL server process; wall times are shown too). A period of ten years (the whole history) is
measured too, for information. Every page is requested once before it is measured: that first
request sums up the past days of the period (``workflows.web.analytics``), which is timed apart.
Today's decisions are read at every request: their share of the 29 days grows with the hour.

Each database in its own process (Django is set up once per process). SQLite: a scratch file.
PostgreSQL: the database of ``ANALYTICS_BENCH_DATABASE_URL`` (default: ``hitl_bench_analytics`` on
the local server), dropped and created anew; skipped when the server cannot be reached.

    .venv/bin/python bench/analytics.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PG_URL = os.environ.get("ANALYTICS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitl_bench_analytics")
DAY = 86_400
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
    _analyze()


def _analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give them soon after."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _cpu_seconds() -> float:
    """CPU time of this process and, on PostgreSQL, of the server process of its connection (the
    server runs on this machine): what requests cost, however busy the machine is."""
    from django.db import connection

    spent = time.process_time()
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        schedstat = Path(f"/proc/{connection.connection.info.backend_pid}/schedstat").read_text()
        spent += int(schedstat.split()[0]) / 1e9
    return spent


def _get(client, url: str) -> tuple[float, float]:
    """Wall and CPU ms of one request (a streamed response read to its end)."""
    cpu, t0 = _cpu_seconds(), time.perf_counter()
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    wall, cpu = (time.perf_counter() - t0) * 1000, (_cpu_seconds() - cpu) * 1000
    assert response.status_code == 200, response.status_code
    return wall, cpu


def _measure(client, urls: dict[str, str], n: int) -> dict:
    """Median wall and CPU ms per url, requested in turn ``n`` times; ``first``: the wall ms of the
    first request of the first url (it sums up the days of the period not summed up yet)."""
    first = _get(client, next(iter(urls.values())))[0]
    for url in urls.values():
        _get(client, url)  # warm
    times = {name: [] for name in urls}
    for _ in range(n):
        for name, url in urls.items():
            times[name].append(_get(client, url))
    return {
        "first": first,
        **{name: [statistics.median(t[i] for t in ms) for i in (0, 1)] for name, ms in times.items()},
    }


def _setup(backend: str, tmp: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_site.settings")
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(var, None)
    if backend == "postgresql":
        import psycopg

        name = PG_URL.rsplit("/", 1)[1]
        with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = PG_URL
    from django.conf import settings

    if backend == "sqlite":
        settings.DATABASES["default"]["NAME"] = str(Path(tmp) / "analytics.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def measure(backend: str, quick: bool) -> dict:
    """The figures of one database (run in its own process)."""
    with tempfile.TemporaryDirectory(prefix="hitl-analytics-bench-") as tmp:
        _setup(backend, tmp)
        from django.contrib.auth.models import User
        from django.test import Client
        from django.utils import timezone

        from workflows.models import DecisionDay

        User.objects.create_superuser("bench", email="")
        client = Client(SERVER_NAME="localhost")
        client.force_login(User.objects.get(username="bench"))
        small, large = (1_000, 20_000) if quick else (1_000, 100_000)
        since = (timezone.localdate() - timezone.timedelta(days=3650)).isoformat()
        urls = {"page": "/analytics/", "csv": "/analytics/?format=csv", "api": "/api/v1/analytics"}
        n = 5 if quick else 11
        _fill(small, newest_seconds_ago=60, spread_seconds=29 * DAY, pending=50)
        out = {
            "small": _measure(client, urls, n),
            "small_all": _measure(client, {"page": f"/analytics/?since={since}"}, 3),
        }
        _fill(large - small, newest_seconds_ago=31 * DAY, spread_seconds=3 * 365 * DAY)
        out["history"] = _measure(client, urls, n)
        _fill(large - small, newest_seconds_ago=60, spread_seconds=29 * DAY)
        # Decisions written straight into past days (an import, here): the days summed up before
        # do not hold them; deleted, they are summed up again.
        DecisionDay.objects.all().delete()
        out["large"] = _measure(client, urls, n)
        out["large_all"] = _measure(client, {"page": f"/analytics/?since={since}"}, 3)
        now = timezone.localtime()
        out["today_share"] = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / (29 * DAY)
        out["sizes"] = (small, large)
    return out


def _rows(label: str, m: dict) -> list[dict]:
    """Rows of one database; the ratio is of CPU times (wall times shown too: on a busy machine
    they swing with the load, see ``_cpu_seconds``)."""
    small, large = m["sizes"]
    rows = []
    for case, title in (
        ("large", f"{large:,} vs {small:,} decided in the last 30 days"),
        ("history", f"{large - small:,} more decided before them"),
    ):
        for name in ("page", "csv", "api"):
            (wall, cpu), (wall_1, cpu_1) = m[case][name], m["small"][name]
            rows.append(
                dict(
                    name=f"analytics on {label}, {title}: {name} (CPU)",
                    value=f"{cpu:.1f} / {cpu_1:.1f} ms (wall {wall:.0f} / {wall_1:.0f})",
                    ratio=cpu / cpu_1,
                    target="<= 2.00",
                    ok=cpu / cpu_1 <= 2.0,
                )
            )
    (wall, cpu), (wall_1, cpu_1) = m["large_all"]["page"], m["small_all"]["page"]
    rows += [
        dict(
            name=f"  {label}: ten years on one page, {2 * large - small:,} vs {small:,} decided (CPU)",
            value=f"{cpu:.1f} / {cpu_1:.1f} ms (wall {wall:.0f} / {wall_1:.0f})",
            ratio=cpu / cpu_1,
            target="(info)",
            ok=None,
        ),
        dict(
            name=f"  {label}: first page, summing up 29 days of {large:,}; today's share of them",
            value=f"{m['large']['first']:.0f} ms; {m['today_share']:.1%}",
            target="(info)",
            ok=None,
        ),
    ]
    return rows


def main(quick: bool = False) -> list[dict]:
    rows = []
    for backend, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        args = [sys.executable, __file__, "--backend", backend] + (["--quick"] if quick else [])
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode:
            error = (done.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(dict(name=f"analytics on {label}: not measured", value=error[:120], ok=None))
        else:
            rows += _rows(label, json.loads(done.stdout))
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--backend" in sys.argv:
        print(json.dumps(measure(sys.argv[sys.argv.index("--backend") + 1], quick)))
    else:
        for row in main(quick):
            print(row)
