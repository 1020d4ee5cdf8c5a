"""`make bench`: our engine next to agno 3.1.10 (same workflows, both on SQLite, one run), then
the other benchmarks. Prints a table of measured values, ratios and targets.

    .venv/bin/python bench/run.py [--quick]
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def agno_side(quick: bool) -> dict | None:
    try:
        subprocess.run(["bash", str(HERE / "setup_agno.sh")], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        print(f"agno side unavailable (setup failed): {exc.stderr[-500:]}")
        return None
    args = [str(HERE / ".agno-venv/bin/python"), str(HERE / "agno_side.py")] + (["--quick"] if quick else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _versus(name: str, ours: float, theirs: float, *, limit: float | None = None) -> dict:
    """A row of ours against agno in ms: a target ``<= limit``, or a reference row without one."""
    ratio = ours / theirs
    return dict(
        name=name,
        value=f"{ours:.2f} / {theirs:.2f} ms",
        ratio=ratio,
        target="(floor)" if limit is None else f"<= {limit:.2f}",
        ok=None if limit is None else ratio <= limit,
    )


def engine_rows(quick: bool) -> list[dict]:
    # Ours in a subprocess too: the same isolation agno gets, and Django set up on a scratch DB.
    args = [sys.executable, str(HERE / "engine_bench.py")] + (["--quick"] if quick else [])
    ours = json.loads(
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            text=True,
            env={"DEBUG": "0", "SECRET_KEY": "bench", "PATH": "/usr/bin:/bin"},
        ).stdout
    )
    agno = agno_side(quick)
    rows = []
    cycle = ours["cycle_ms"]["total"]["median"]
    hundred = ours["hundred_ms"]["median"]
    growth = ours["growth"]["ratio_last_vs_100"]
    if agno:
        a_cycle, a_hundred = agno["cycle_ms"]["total"]["median"], agno["hundred_ms"]["median"]
        floor = ours["sqlite_floor_ms"]["median"]
        rows += [
            _versus("1-step pause+resume cycle (ours / agno)", cycle, a_cycle, limit=0.5),
            _versus("100-step run, checkpoint per step (ours / agno)", hundred, a_hundred, limit=1.0),
            _versus(
                '100-step run, durability="pause" (ours / agno)',
                ours["hundred_pause_ms"]["median"],
                a_hundred,
                limit=0.3,
            ),
            _versus("  reference: SQLite alone, the same 100 commits (no engine) / agno", floor, a_hundred),
        ]
        a_growth = agno["growth"]["one_session"]["ratio_last_vs_100"]
        rows.append(
            dict(
                name="agno one-session growth (last / 100th run)",
                value="",
                ratio=a_growth,
                target="(reference)",
                ok=None,
            )
        )
    runs = ours["growth"]["runs"]
    rows.append(
        dict(
            name=f"ours: run {runs:,} vs run 100",
            value=(f"{ours['growth']['last_median_ms']:.2f} / {ours['growth']['around100_median_ms']:.2f} ms"),
            ratio=growth,
            target="<= 1.10",
            ok=growth <= 1.1,
        )
    )
    return rows


def other_rows(quick: bool) -> list[dict]:
    rows = []
    for module in ("throughput", "inbox", "analytics", "notify"):
        if not (HERE / f"{module}.py").exists():
            continue
        try:
            rows += importlib.import_module(module).main(quick=quick)
        except Exception as exc:  # one benchmark failing must not hide the others
            rows.append(dict(name=f"{module}: failed", value=f"{type(exc).__name__}: {exc}", ok=False))
    return rows


def main() -> int:
    quick = "--quick" in sys.argv
    rows = engine_rows(quick) + other_rows(quick)
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':>24}  {'ratio':>7}  {'target':>10}  ok")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if isinstance(r.get("ratio"), (int, float)) else ""
        ok = {True: "yes", False: "NO", None: ""}[r.get("ok")]
        print(f"{r['name']:<{width}}  {str(r.get('value', '')):>24}  {ratio:>7}  {str(r.get('target', '')):>10}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
