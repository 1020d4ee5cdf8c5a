"""Services-mode throughput: Celery workers resolving paused runs, next to bare Celery.

Starts its own two Celery workers (solo pool) on a database of its own (``hitl_bench``, created
and migrated if missing) and a Redis database of its own, then measures in one run:

1. a bare no-op Celery task: N published at once, completions per second (the baseline), and
   N/2 round trips one at a time (publish, wait until it ran, next);
2. N paused runs (confirmation gate), all decided, then continued at once: runs completed per
   second by the same two workers (until the last one's finished_at); target >= half the no-op
   rate (the ratio on the round-trip row compares with one-at-a-time round trips). 1. and 2.
   alternate in five rounds (one with --quick), and the round with the median ratio is
   reported: this machine's slow spells last seconds, and a spell during one side only skews a
   single round;
3. worker memory over many runs (a 3-step workflow): RSS after the first tenth vs. at the end;
   target <= 10 % growth.

    .venv/bin/python bench/throughput.py [--quick] [--notify]   # prints a table
    main(quick=False) -> list[dict]                               # rows for bench/run.py

``--notify``: a webhook endpoint (a loopback receiver in the driver) listens to every event, so
each run queues and sends its deliveries (requirement created and resolved, run completed)
through the same workers: the decided-run throughput with notifications switched on.

Needs PostgreSQL and Redis (as `make test-services`): BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/hitl_bench) and BENCH_REDIS_URL (default
redis://127.0.0.1:6379/3). This module is also what the workers import: the workflows and the
no-op task below are defined at module level for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from celery import shared_task  # noqa: E402

from workflows.engine import HumanReview, Step, Workflow  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitl_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
NOOP_COUNTER = "bench:noop:done"


def _step(step_input):
    return step_input.previous_step_content or step_input.input


# What the workers run (they import this module: HITL_WORKFLOW_MODULES=bench.throughput).
bench_gated = Workflow(
    name="bench_gated",
    steps=[
        Step(name="prepare", executor=_step),
        Step(name="apply", executor=_step, human_review=HumanReview(requires_confirmation=True)),
    ],
)
bench_plain = Workflow(
    name="bench_plain",
    steps=[Step(name="one", executor=_step), Step(name="two", executor=_step), Step(name="three", executor=_step)],
)


def noop() -> None:
    _redis().incr(NOOP_COUNTER)


if __name__ != "__main__":  # the workers' import (-I bench.throughput), not the driver script
    noop = shared_task(name="bench.noop", ignore_result=True)(noop)


_client = None


def _redis():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(REDIS_URL)
    return _client


# -- the driver (a process of its own: Django on the bench database) ------------------------------
def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "HITL_TEST_SERVICES")}
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DEBUG="0",
        HITL_WEBHOOK_ALLOW_PRIVATE="1",  # --notify's receiver listens on the loopback
        SECRET_KEY="bench-only",
        HITL_WORKFLOW_MODULES="bench.throughput",
        DJANGO_SETTINGS_MODULE="hitl_site.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def _ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Workers:
    def __init__(self, count: int, logdir: Path):
        self.procs = []
        for i in range(count):
            log = logdir / f"worker-{i}.log"
            cmd = [sys.executable, "-m", "celery", "-A", "hitl_site", "worker", "-P", "solo", "-l", "warning"]
            cmd += ["-n", f"bench{i}@%h", "-I", "bench.throughput", "--logfile", str(log)]
            cmd += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            proc.log = log
            self.procs.append(proc)

    def wait_ready(self, app, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            replies = app.control.ping(timeout=0.5) or []
            if len(replies) >= len(self.procs):
                return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a bench worker exited: {proc.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("bench workers did not start")

    def rss_kb(self) -> list[int]:
        return [_rss_kb(p.pid) for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _wait(predicate, timeout: float, what: str, poll: float = 0.005) -> float:
    """Poll ``predicate`` until it holds; the time at which it first did."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(poll)
    return time.monotonic()


def _noop_at_once(app, r, count: int) -> float:
    """``count`` no-op tasks published at once; completions per second (done when the counter
    says so)."""
    r.set(NOOP_COUNTER, 0)
    began = time.monotonic()
    for _ in range(count):
        app.send_task("bench.noop")
    ended = _wait(lambda: int(r.get(NOOP_COUNTER) or 0) >= count, 120, "no-op tasks")
    return count / (ended - began)


def _runs_at_once(gated, user, count: int) -> tuple[float, float]:
    """``count`` runs created paused and decided (continuations held back), then all sent at once;
    decisions stored per second (one process), and runs completed per second (the workers)."""
    from django.db import connection
    from django.db.models import Max

    from approvals.models import Decision
    from workflows import services
    from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
    from workflows.runtime import dispatch

    tables = [m._meta.db_table for m in (WorkflowRun, Requirement, RunEvent, StepRun, Decision)]
    WorkflowRun.objects.all().delete()  # the polls below count these runs only
    with connection.cursor() as cursor:  # every round starts from the same tables
        for table in tables:
            cursor.execute(f"VACUUM {table}")
    runs = [gated.run(i, user=user).run_id for i in range(count)]
    held: list[str] = []
    dispatch.set_backend(held.append)
    try:
        began = time.monotonic()
        for req in Requirement.objects.filter(run_id__in=runs, status="PENDING"):
            services.requirement_resolve(requirement_id=req.id, user=user, action="confirm", version=req.version)
        decisions_per_s = count / (time.monotonic() - began)
    finally:
        dispatch.set_backend(None)
    assert len(held) == count
    with connection.cursor() as cursor:  # statistics of the tables as the workers will find them
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
    began = time.time()  # wall clock, as the workers stamp finished_at
    for run_id in held:
        dispatch.send(run_id)
    # The end is when the last run finished, as its worker stamped it. The poll that waits for it
    # is slow on purpose: it queries the database the workers use, and a poll every few
    # milliseconds cost the database a quarter of a millisecond of CPU per run.
    completed = WorkflowRun.objects.filter(status="COMPLETED")
    _wait(lambda: completed.count() >= count, 300, "paused runs to complete", poll=0.1)
    assert set(map(str, completed.values_list("id", flat=True))) == set(map(str, runs))
    ended = completed.aggregate(last=Max("finished_at"))["last"].timestamp()
    return decisions_per_s, count / (ended - began)


def _webhook_receiver() -> str:
    """A loopback HTTP endpoint that answers 204 to every POST (in a thread of the driver). It
    keeps connections open between requests (HTTP/1.1), as real endpoints do."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a sender may connect 16 at once (the default backlog is 5)
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook"


def drive(quick: bool, notify: bool = False) -> dict:
    """Measure (in this process, set up for the bench database). Returns the raw numbers."""
    _ensure_database()
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from hitl_site.celery import app
    from workflows import registry, services
    from workflows.models import WorkflowRun

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    app.control.purge()
    gated = registry.get("bench_gated")  # as the workers see it (HITL_WORKFLOW_MODULES=bench.throughput)
    user = User.objects.create_user("bench", is_superuser=True)  # may resolve everything
    n_noop = 300 if quick else 1000
    n_runs = 200 if quick else 1000
    n_memory = 2000 if quick else 10000
    rounds = 1 if quick else 5
    results: dict = {"noop_n": n_noop, "runs_n": n_runs, "memory_n": n_memory, "notify": notify}
    if notify:
        from notifications import services as notifications
        from notifications.models import EVENTS

        notifications.webhook_create(url=_webhook_receiver(), events=list(EVENTS))

    workers = Workers(2, Path(tempfile.mkdtemp(prefix="hitl-bench-")))
    try:
        workers.wait_ready(app)
        r = _redis()

        # 1. and 2., in alternating rounds (the machine's slow spells hit both sides alike): bare
        # no-op tasks, then as many paused runs, decided, and continued at once. The median round.
        _noop_at_once(app, r, 50)  # warm-up
        noop_rates, run_rates, decision_rates = [], [], []
        for _ in range(rounds):
            noop_rates.append(_noop_at_once(app, r, n_noop))
            decisions_per_s, runs_per_s = _runs_at_once(gated, user, n_runs)
            decision_rates.append(decisions_per_s)
            run_rates.append(runs_per_s)
        ratios = [runs / noop for runs, noop in zip(run_rates, noop_rates, strict=True)]
        median = sorted(range(rounds), key=ratios.__getitem__)[rounds // 2]
        results.update(
            rounds=rounds,
            ratios=ratios,
            noop_per_s=noop_rates[median],
            runs_per_s=run_rates[median],
            decisions_per_s=decision_rates[median],
        )
        # ... and no-op round trips one at a time: publish, wait until it ran, publish the next.
        r.set(NOOP_COUNTER, 0)
        began = time.monotonic()
        for i in range(n_noop // 2):
            app.send_task("bench.noop")
            _wait(lambda i=i: int(r.get(NOOP_COUNTER) or 0) > i, 30, "a no-op task", poll=0.0002)
        results["noop_round_trips_per_s"] = (n_noop // 2) / (time.monotonic() - began)

        # 3. memory: many runs, RSS after the first tenth vs. at the end.
        WorkflowRun.objects.all().delete()
        done = WorkflowRun.objects.filter(status="COMPLETED")
        warm = n_memory // 10
        for i in range(n_memory):
            services.run_start(workflow_name="bench_plain", input=i)
            if i + 1 == warm:
                _wait(lambda: done.count() >= warm, 300, "warm-up runs")
                results["rss_warm_kb"] = workers.rss_kb()
        _wait(lambda: done.count() >= n_memory, 900, "memory runs")
        results["rss_end_kb"] = workers.rss_kb()
        results["memory_runs_errors"] = WorkflowRun.objects.exclude(status="COMPLETED").count()
    finally:
        workers.stop()
    return results


def rows(results: dict) -> list[dict]:
    noop, runs = results["noop_per_s"], results["runs_per_s"]
    ratio = runs / noop
    rss = list(zip(results["rss_warm_kb"], results["rss_end_kb"], strict=True))
    growth = max(end / warm - 1 for warm, end in rss)
    n, m = results["runs_n"], results["memory_n"]
    rounds = (
        "one round"
        if results["rounds"] == 1
        else f"median of {results['rounds']} rounds ({' '.join(f'{r:.2f}' for r in results['ratios'])})"
    )
    return [
        dict(
            name=f"bare no-op Celery task, {results['noop_n']:,} at once (2 workers)",
            value=f"{noop:.0f} tasks/s",
            unit="tasks/s",
            target="(baseline)",
            ok=None,
        ),
        dict(
            name=f"bare no-op Celery task, {results['noop_n'] // 2:,} round trips one at a time",
            value=f"{results['noop_round_trips_per_s']:.0f} trips/s",
            unit="round trips/s",
            ratio=runs / results["noop_round_trips_per_s"],
            target="(reference)",
            ok=None,
        ),
        dict(
            name=f"{n:,} paused runs decided (one process)",
            value=f"{results['decisions_per_s']:.0f} decisions/s",
            unit="decisions/s",
            target="(reference)",
            ok=None,
        ),
        dict(
            name=f"{n:,} decided runs completed (2 workers{', webhooks on' if results.get('notify') else ''})"
            f" / no-op, {rounds}",
            value=f"{runs:.0f} runs/s",
            unit="runs/s",
            ratio=ratio,
            target=">= 0.50",
            ok=ratio >= 0.5,
        ),
        dict(
            name=f"worker RSS growth over {m:,} runs",
            value=" ".join(f"{w / 1024:.0f}->{e / 1024:.0f}" for w, e in rss) + " MB",
            unit="%",
            ratio=1 + growth,
            target="<= 1.10",
            ok=growth <= 0.10 and results["memory_runs_errors"] == 0,
        ),
    ]


def main(quick: bool = False, notify: bool = False) -> list[dict]:
    """Run the benchmark in a process of its own (its own Django, database and workers)."""
    args = [sys.executable, str(Path(__file__).resolve()), "--json"] + (["--quick"] if quick else [])
    args += ["--notify"] if notify else []
    out = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench/throughput.py failed: {out.stderr[-2000:]}")
    return rows(json.loads(out.stdout.strip().splitlines()[-1]))


def _print(table: list[dict]) -> None:
    width = max(len(r["name"]) for r in table)
    print(f"{'benchmark':<{width}}  {'measured':>26}  {'ratio':>6}  {'target':>10}  ok")
    for r in table:
        ratio = f"{r['ratio']:.2f}" if isinstance(r.get("ratio"), float) else ""
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        print(f"{r['name']:<{width}}  {r['value']:>26}  {ratio:>6}  {r['target']:>10}  {ok}")


if __name__ == "__main__":
    quick, notify = "--quick" in sys.argv, "--notify" in sys.argv
    if "--json" in sys.argv:
        print(json.dumps(drive(quick, notify)))
    else:
        _print(main(quick, notify))
