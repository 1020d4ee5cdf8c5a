"""Parallel branches run at the same time (threads), with outputs in definition order, a cap on
concurrency, pauses in several branches, and store writes from the thread driving the run only."""

import asyncio
import threading
import time

import pytest

from workflows.engine import DefinitionError, HumanReview, MemoryStore, Parallel, RunStatus, Step, Workflow

from .helpers import make


def sleeper(name: str, seconds: float):
    def step(si):
        time.sleep(seconds)
        return name

    step.__name__ = name
    return step


def test_three_one_second_branches_take_about_one_second():
    wf = make([Parallel(sleeper("a", 1), sleeper("b", 1), sleeper("c", 1), name="p")])
    started = time.perf_counter()
    out = wf.run()
    elapsed = time.perf_counter() - started
    assert out.status == RunStatus.COMPLETED
    assert elapsed <= 1.2, elapsed
    assert out.content == {"a": "a", "b": "b", "c": "c"}


def test_async_branches_run_at_the_same_time():
    def napper(name):
        async def step(si):
            await asyncio.sleep(0.5)
            return name

        step.__name__ = name
        return step

    wf = make([Parallel(napper("a"), napper("b"), napper("c"), name="p")])
    started = time.perf_counter()
    assert wf.run().status == RunStatus.COMPLETED
    assert time.perf_counter() - started < 1.0


def test_outputs_come_in_definition_order_whatever_finishes_first():
    wf = make([Parallel(sleeper("slow", 0.3), sleeper("fast", 0), name="p"), lambda si: list(si.previous_step_content)])
    out = wf.run()
    assert out.content == ["slow", "fast"]
    assert [s.step_name for s in out.step_results[0].steps] == ["slow", "fast"]


def test_max_concurrency_caps_the_branches_running_at_once():
    running, peak, lock = [0], [0], threading.Lock()

    def counted(name):
        def step(si):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.1)
            with lock:
                running[0] -= 1
            return name

        step.__name__ = name
        return step

    branches = [counted(f"b{i}") for i in range(6)]
    assert make([Parallel(*branches, name="p", max_concurrency=2)]).run().status == RunStatus.COMPLETED
    assert peak[0] == 2
    peak[0] = 0
    wf = Workflow("capped", [Parallel(*branches, name="p")], store=MemoryStore(), parallel_max_workers=3)
    assert wf.run().status == RunStatus.COMPLETED
    assert peak[0] == 3
    peak[0] = 0
    assert make([Parallel(*branches, name="p", max_concurrency=1)]).run().status == RunStatus.COMPLETED
    assert peak[0] == 1


def test_max_concurrency_is_validated():
    with pytest.raises(DefinitionError, match="max_concurrency"):
        Parallel(sleeper("a", 0), max_concurrency=0)


def test_several_branches_pause_at_once_and_resume(calls):
    def gated(name):
        return Step(name=name, executor=calls.fn(name), human_review=HumanReview(requires_confirmation=True))

    wf = make([Parallel(gated("x"), gated("y"), calls.fn("z"), name="p"), calls.fn("end")])
    out = wf.run()
    assert out.status == RunStatus.PAUSED
    assert sorted(r.step_name for r in out.steps_requiring_confirmation) == ["x", "y"]
    assert calls.names() == ["z"]
    for req in out.steps_requiring_confirmation:
        req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert sorted(calls.names()) == ["end", "x", "y", "z"] and calls.names()[-1] == "end"
    assert calls.count("z") == 1  # done before the pause: not run again


class ThreadRecordingStore(MemoryStore):
    """Records which threads use the store (a Django store's connection belongs to one thread)."""

    def __init__(self):
        super().__init__()
        self.threads = set()

    def checkpoint(self, state):
        self.threads.add(threading.get_ident())
        super().checkpoint(state)

    def finish(self, state):
        self.threads.add(threading.get_ident())
        super().finish(state)


@pytest.mark.parametrize("stream", [False, True])
def test_only_the_driving_thread_writes_to_the_store(calls, stream):
    store = ThreadRecordingStore()
    inner = Parallel(sleeper("i1", 0.05), sleeper("i2", 0.05), name="inner")
    branches = [sleeper(f"b{i}", 0.01 * (i % 3)) for i in range(12)] + [inner]
    wf = make([Parallel(*branches, name="p"), calls.fn("end")], store=store)
    result = wf.run(stream=stream)
    if stream:
        events = list(result)
        run_id = events[0].run_id
    else:
        run_id = result.run_id
    assert store.threads == {threading.get_ident()}
    stored = store.events[run_id]
    assert [row["seq"] for row in stored] == list(range(1, len(stored) + 1))  # no event lost or doubled
    completed = [row["step_name"] for row in stored if row["event"] == "StepCompleted"]
    assert sorted(completed) == sorted([f"b{i}" for i in range(12)] + ["i1", "i2", "inner", "p", "end"])
    assert len(store.step_runs[run_id]) == len(completed)
    assert wf.get_run_output(run_id).status == RunStatus.COMPLETED


def test_a_branch_completion_is_stored_while_other_branches_still_run():
    store = MemoryStore()
    seen = []

    def fast(si):
        return "fast"

    def slow(si):
        # A crash here must not make "fast" run again: its completion is already stored.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            (run_id,) = store.events
            rows = store.events[run_id]
            if any(r["event"] == "StepCompleted" and r["step_name"] == "fast" for r in rows):
                seen.append(True)
                break
            time.sleep(0.01)
        return "slow"

    wf = make([Parallel(slow, fast, name="p")], store=store)
    assert wf.run().status == RunStatus.COMPLETED
    assert seen == [True]


def test_a_failing_branch_fails_the_run_after_the_others_end(calls):
    def bad(si):
        raise RuntimeError("kaput")

    wf = make([Parallel(sleeper("ok", 0.1), bad, name="p"), calls.fn("end")])
    out = wf.run()
    assert out.status == RunStatus.ERROR and "kaput" in out.content
    assert calls.names() == []


def test_async_steps_of_an_execution_share_one_event_loop():
    loops = []

    def async_step(name):
        async def step(si):
            loops.append(asyncio.get_running_loop())
            await asyncio.sleep(0.05)
            return name

        step.__name__ = name
        return step

    wf = make([async_step("a"), Parallel(async_step("b"), async_step("c"), name="p"), async_step("d")])
    assert wf.run().status == RunStatus.COMPLETED
    assert len(loops) == 4 and len(set(map(id, loops))) == 1  # the branches ran as tasks of one loop
