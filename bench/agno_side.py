"""agno side of the HITL benchmark (same workflows, same SQLite, timed side by side
with bench/engine_bench.py).

Run with the agno venv:  bench/.agno-venv/bin/python bench/agno_side.py [--quick] [--n N]
Prints one JSON object on stdout. All times are wall-clock ms from time.perf_counter.
"""

import argparse
import atexit
import json
import os
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid

# --- No network: telemetry off, and any socket/DNS use is recorded and refused. ---------------
os.environ["AGNO_TELEMETRY"] = "false"
NET_ATTEMPTS = []


def _refuse(*args, **kwargs):
    NET_ATTEMPTS.append(repr(args)[:120])
    raise OSError("network disabled by agno_side.py")


socket.socket.connect = socket.socket.connect_ex = _refuse
socket.getaddrinfo = socket.create_connection = _refuse

from importlib.metadata import version  # noqa: E402

from agno.db.sqlite import SqliteDb  # noqa: E402
from agno.run.base import RunStatus  # noqa: E402
from agno.workflow import HumanReview, Step, StepOutput, Workflow  # noqa: E402

TMP = tempfile.mkdtemp(prefix="agno-bench-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)


def noop(step_input):
    return StepOutput(content="x")


def workflow(name, n_steps=1, review=None):
    """A fresh Workflow on its own file-backed SqliteDb (one DB file per scenario)."""
    db = SqliteDb(db_file=os.path.join(TMP, f"{name}.db"))
    steps = [Step(name=f"s{i}", executor=noop, human_review=review) for i in range(n_steps)]
    return Workflow(name=name, db=db, steps=steps, telemetry=False)


def db_check(name, runs, sessions):
    """Assert the scenario's DB file really holds the expected COMPLETED runs and sessions."""
    con = sqlite3.connect(os.path.join(TMP, f"{name}.db"))
    got = (
        con.execute("SELECT status, count(*) FROM agno_runs GROUP BY status").fetchall(),
        con.execute("SELECT count(*) FROM agno_sessions").fetchone()[0],
    )
    con.close()
    assert got == ([("COMPLETED", runs)], sessions), (name, got)


def new_session():
    # Always pass session_id explicitly: without it agno makes the first generated id sticky
    # on the Workflow instance, so every later run silently lands in the same session.
    return str(uuid.uuid4())


def ms(seconds):
    return seconds * 1000.0


def stats(xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return {
        "n": len(xs),
        "median": round(statistics.median(xs), 3),
        "p90": round(p90, 3),
        "min": round(xs[0], 3),
        "max": round(xs[-1], 3),
    }


# --- a. pause + resume cycle --------------------------------------------------------------------
def bench_cycle(n, warmup=10):
    wf = workflow("cycle", review=HumanReview(requires_confirmation=True))
    to_pause, resume, total = [], [], []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        run = wf.run("go", session_id=new_session())
        t1 = time.perf_counter()
        assert run.status == RunStatus.paused, run.status
        for req in run.active_step_requirements:
            req.confirm()
        done = wf.continue_run(run)
        t2 = time.perf_counter()
        assert done.status == RunStatus.completed and done.content == "x", (done.status, done.content)
        if i >= warmup:
            to_pause.append(ms(t1 - t0))
            resume.append(ms(t2 - t1))
            total.append(ms(t2 - t0))
    db_check("cycle", runs=warmup + n, sessions=warmup + n)
    return {"total": stats(total), "run_to_pause": stats(to_pause), "confirm_continue": stats(resume)}


# --- b. 100 trivial steps -----------------------------------------------------------------------
def bench_hundred(n, warmup=3):
    wf = workflow("hundred", n_steps=100)
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        run = wf.run("go", session_id=new_session())
        t1 = time.perf_counter()
        assert run.status == RunStatus.completed and len(run.step_results) == 100, run.status
        if i >= warmup:
            times.append(ms(t1 - t0))
    db_check("hundred", runs=warmup + n, sessions=warmup + n)
    return stats(times)


# --- c. growth over many runs -------------------------------------------------------------------
def growth_series(name, n, one_session):
    wf = workflow(name)
    sid = new_session()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run = wf.run("go", session_id=sid if one_session else new_session())
        t1 = time.perf_counter()
        assert run.status == RunStatus.completed, run.status
        times.append(ms(t1 - t0))
    db_check(name, runs=n, sessions=1 if one_session else n)
    first = statistics.median(times[:20])  # runs 1-20
    mid = statistics.median(times[89:110])  # runs 90-110 (around the 100th)
    last = statistics.median(times[-21:])  # last 21 runs (overlaps 90-110 when n < 131)
    return {
        "runs": n,
        "first20_median_ms": round(first, 3),
        "around100_median_ms": round(mid, 3),
        "last21_median_ms": round(last, 3),
        "ratio_last_vs_100": round(last / mid, 2),
    }


def bench_growth(n):
    assert n >= 110, "growth needs at least 110 runs"
    return {
        "fresh_session_each_run": growth_series("growth_fresh", n, one_session=False),
        "one_session": growth_series("growth_one", n, one_session=True),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small n: cycle 30, hundred 5, growth 120")
    ap.add_argument("--n", type=int, default=None, help="cycle iterations (default 200; 30 with --quick)")
    args = ap.parse_args()
    n_cycle = args.n or (30 if args.quick else 200)
    n_hundred, n_growth = (5, 120) if args.quick else (20, 200)

    started = time.perf_counter()
    result = {
        "cycle_ms": bench_cycle(n_cycle),
        "hundred_ms": bench_hundred(n_hundred),
        "growth": bench_growth(n_growth),
        "agno_version": version("agno"),
        "sqlalchemy_version": version("sqlalchemy"),
        "python": sys.version.split()[0],
        "quick": args.quick,
        "network_attempts": len(NET_ATTEMPTS),
    }
    result["wall_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
