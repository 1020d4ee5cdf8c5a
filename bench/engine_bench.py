"""Our side of the engine benchmark: the same workflows as bench/agno_side.py, on SQLite.

Measures, through the public API (``Workflow.run`` / ``continue_run`` persisting via Django):
the 1-step confirmation pause + resume cycle, a 100-step run (checkpointed after every step, and
with durability="pause": stored at the end only),
and run time around the 100th and the 10,000th run. ``main()`` returns a dict like agno_side's.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(db_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_site.settings")
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(var, None)
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_path
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    # Another benchmark of the same process (bench/run.py) may have used its own file: the
    # connection keeps a copy of the settings it was made with.
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = db_path

    call_command("migrate", verbosity=0)


def stats(xs):
    xs = sorted(xs)
    return {"n": len(xs), "median": round(statistics.median(xs), 3), "p90": round(xs[int(0.9 * (len(xs) - 1))], 3)}


def _workflow(name, n_steps=1, confirm=False, durability="step"):
    from workflows.engine import HumanReview, Step, StepOutput, Workflow

    def noop(step_input):
        return StepOutput(content="x")

    review = HumanReview(requires_confirmation=True) if confirm else None
    steps = [
        Step(name=f"s{i}", executor=noop, human_review=review if i == n_steps - 1 else None) for i in range(n_steps)
    ]
    return Workflow(name=name, steps=steps, durability=durability)


def bench_cycle(n, warmup=10):
    wf = _workflow("cycle", confirm=True)
    total = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        out = wf.run("go")
        assert out.is_paused, out.status
        for req in out.steps_requiring_confirmation:
            req.confirm()
        done = wf.continue_run(out)
        t1 = time.perf_counter()
        assert done.status == "COMPLETED" and done.content == "x", (done.status, done.content)
        if i >= warmup:
            total.append((t1 - t0) * 1000)
    return {"total": stats(total)}


def bench_hundred(n, warmup=3, durability="step"):
    from workflows.models import StepRun

    wf = _workflow(f"hundred-{durability}", n_steps=100, durability=durability)
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        out = wf.run("go")
        t1 = time.perf_counter()
        assert out.status == "COMPLETED" and len(out.step_results) == 100
        if i >= warmup:
            times.append((t1 - t0) * 1000)
    # Every step has its step run row (written as it completed, or with the end for "pause").
    assert StepRun.objects.filter(run_id=out.run_id).count() == 100
    return stats(times)


def bench_sqlite_floor(n, warmup=3):
    """What SQLite alone takes for the hundred's writes, with no engine and no Django: 100
    transactions on the same database and settings, each writing the rows one step's checkpoint
    writes (its two events and its step run), through the DB-API directly. The floor under
    ``bench_hundred``: the target compares with agno, which commits nothing per step."""
    import sqlite3
    import uuid

    from django.db import connection

    from workflows.models import RunEvent, StepRun, WorkflowRun

    con = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    for pragma in connection.settings_dict["OPTIONS"]["init_command"].split(";"):
        if pragma.strip():
            con.execute(pragma)
    con.execute("PRAGMA foreign_keys = ON")  # as Django's connections
    ts = "2030-01-01 12:00:00.000000"
    output = '{"step_name": "s", "content": "x", "success": true, "error": null, "stop": false, "metadata": null}'
    times = []
    for i in range(warmup + n):
        run = uuid.uuid4().hex
        con.execute(
            f"INSERT INTO {WorkflowRun._meta.db_table} (id, workflow_name, fingerprint, status, input, "
            "additional_data, content, error, state, pause_kind, paused_step_name, paused_step_path, version, "
            "cancel_requested_by, created_by_name, created_at, updated_at) VALUES (?, 'floor', '', 'RUNNING', "
            "'null', '{}', 'null', '', '{}', '', '', '', 1, '', '', ?, ?)",
            (run, ts, ts),
        )
        t0 = time.perf_counter()
        for step in range(100):
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                f"INSERT INTO {RunEvent._meta.db_table} (run_id, seq, event, path, step_name, data, memo, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run, 2 * step + 1, "StepStarted", str(step), "s", '{"attempt": 0}', '{"t": 1}', ts),
                    (run, 2 * step + 2, "StepCompleted", str(step), "s", '{"content": "x"}', output, ts),
                ],
            )
            con.execute(
                f"INSERT INTO {StepRun._meta.db_table} (run_id, key, path, name, kind, iteration, attempt, status, "
                "output, error, started_at, finished_at) VALUES (?, ?, ?, 's', 'Step', NULL, 0, 'COMPLETED', ?, "
                "'', ?, ?)",
                (run, str(step), str(step), output, ts, ts),
            )
            con.execute("COMMIT")
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    con.close()
    return stats(times)


def bench_growth(n):
    wf = _workflow("growth")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = wf.run("go")
        times.append((time.perf_counter() - t0) * 1000)
        assert out.status == "COMPLETED"
    # Windows of 101 runs (runs 50-150, and the last 101): a run takes well under a millisecond,
    # so 21 runs span a few ms of wall time and one hiccup of a shared machine moves their median.
    around100 = statistics.median(times[49:150])
    last = statistics.median(times[-101:])
    return {
        "runs": n,
        "around100_median_ms": round(around100, 3),
        "last_median_ms": round(last, 3),
        "ratio_last_vs_100": round(last / around100, 2),
    }


def main(quick: bool = False, growth: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        _setup(str(Path(tmp) / "bench.sqlite3"))
        n_cycle, n_hundred, n_growth = (30, 5, 1_000) if quick else (200, 20, 10_000)
        result = {
            "cycle_ms": bench_cycle(n_cycle),
            "hundred_ms": bench_hundred(n_hundred),
            "hundred_pause_ms": bench_hundred(n_hundred, durability="pause"),
            "sqlite_floor_ms": bench_sqlite_floor(n_hundred),
        }
        if growth:
            result["growth"] = bench_growth(n_growth)
        return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(quick="--quick" in sys.argv, growth="--no-growth" not in sys.argv), indent=2))
