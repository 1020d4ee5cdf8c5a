"""on_error: fail (the default), skip, pause with retry/skip; automatic retries; failures are recorded."""

import pytest

from workflows.engine import HumanReview, Loop, OnError, RunStatus, Step, Steps

from .helpers import make, only


def failing(calls, name="bad", fail=99, auto_retries=0, **review):
    return Step(
        name=name,
        executor=calls.fn(name, fail=fail, error="kaput"),
        max_retries=auto_retries,
        human_review=HumanReview(**review) if review else None,
    )


def test_default_is_fail(calls, memory_store):
    wf = make([calls.fn("a"), failing(calls), calls.fn("c")], store=memory_store)
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert out.content == "Workflow execution failed: kaput"
    assert out.error == "kaput"
    assert calls.names() == ["a", "bad"]
    assert [r.content for r in out.step_results] == ["a(None)"]
    runs = memory_store.step_runs[out.run_id]
    assert [(r["name"], r["status"]) for r in runs] == [("a", "COMPLETED"), ("bad", "FAILED")]
    assert runs[1]["error"] == "kaput"
    assert [e.event for e in out.events if e.event in ("StepError", "WorkflowError")] == ["StepError", "WorkflowError"]


def test_fail_is_final(calls):
    wf = make([failing(calls, on_error="fail")])
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert out.has_completed


def test_skip_records_a_failed_output_and_goes_on(calls):
    wf = make([calls.fn("a"), failing(calls, on_error=OnError.skip), calls.fn("c")])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    bad = out.step_results[1]
    assert (bad.step_name, bad.success, bad.error) == ("bad", False, "kaput")
    assert bad.content == "Step skipped due to error: kaput"
    assert calls.names() == ["a", "bad", "c"]


def test_automatic_retries_before_on_error(calls):
    wf = make([failing(calls, fail=2, auto_retries=2)])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert calls.count("bad") == 3
    wf = make([failing(calls, name="worse", fail=99, auto_retries=2)])
    assert wf.run().status == RunStatus.ERROR
    assert calls.count("worse") == 3


def test_pause_on_error(calls):
    wf = make([calls.fn("a"), failing(calls, on_error="pause"), calls.fn("c")])
    out = wf.run()
    assert out.is_paused
    assert out.pause_kind == "error"
    assert out.paused_step_name == "bad"
    req = only(out.steps_with_errors)
    assert req.kind == "error"
    assert req.error_message == "kaput"
    assert req.payload["error_type"] == "RuntimeError"
    assert req.retry_count == 0
    assert req.message == "Step 'bad' failed: kaput"
    assert out.steps_requiring_confirmation == []


def test_error_retry_runs_the_step_again(calls):
    wf = make([calls.fn("a"), failing(calls, fail=1, on_error="pause"), calls.fn("c")])
    out = wf.run()
    only(out.steps_with_errors).retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "bad", "bad", "c"]
    assert out.step_results[1].content == "bad(a(None))"


def test_error_skip_goes_on_without_output(calls):
    wf = make([calls.fn("a"), failing(calls, on_error="pause"), calls.fn("c")])
    out = wf.run()
    only(out.steps_with_errors).skip()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert [r.step_name for r in out.step_results] == ["a", "c"]
    assert out.content == "c(a(None))"


def test_each_human_retry_counts_and_history_is_kept(calls):
    wf = make([failing(calls, on_error="pause", max_retries=2)])
    out = wf.run()
    for n in range(2):
        req = only(out.steps_with_errors)
        assert req.retry_count == n
        assert req.payload["retry_count"] == n
        req.retry()
        out = wf.continue_run(out)
        assert out.pause_kind == "error"
    assert [r.key for r in out.step_requirements] == ["0:error:0", "0:error:1", "0:error:2"]
    only(out.steps_with_errors).retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.ERROR
    assert out.content.startswith("Workflow execution failed: Max retries (2) reached for step 'bad'")
    assert calls.count("bad") == 3


def test_each_human_retry_repeats_the_automatic_attempts(calls):
    wf = make([failing(calls, on_error="pause", auto_retries=1)])
    out = wf.run()
    assert calls.count("bad") == 2
    only(out.steps_with_errors).retry()
    wf.continue_run(out)
    assert calls.count("bad") == 4


def test_retry_after_confirmation_does_not_ask_again(calls):
    wf = make([failing(calls, fail=1, on_error="pause", requires_confirmation=True)])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).kind == "error"
    only(out.active_requirements).retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert [r.kind for r in out.step_requirements] == ["confirmation", "error"]


def test_retry_keeps_user_input(calls):
    from workflows.engine import UserInputField

    step = Step(
        name="s",
        executor=calls.fn("s", fail=1, result=lambda si: si.user_input["n"]),
        human_review=HumanReview(
            requires_user_input=True, user_input_schema=[UserInputField("n", field_type="int")], on_error="pause"
        ),
    )
    wf = make([step])
    out = wf.run()
    only(out.active_requirements).set_user_input(n=7)
    out = wf.continue_run(out)
    only(out.steps_with_errors).retry()
    assert wf.continue_run(out).content == 7


def test_error_decisions_accept_only_retry_and_skip(calls):
    from workflows.engine import DecisionError

    wf = make([failing(calls, on_error="pause")])
    req = only(wf.run().steps_with_errors)
    with pytest.raises(DecisionError):
        req.confirm()
    with pytest.raises(DecisionError):
        req.reject()


def test_inner_failure_fails_the_container_by_default(calls):
    wf = make([Steps(name="p", steps=[calls.fn("a"), failing(calls)]), calls.fn("c")])
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert "kaput" in out.content
    assert "c" not in calls.names()


def test_container_on_error_pause_retries_the_whole_container(calls):
    wf = make(
        [Steps(name="p", steps=[calls.fn("a"), failing(calls, fail=1)], human_review=HumanReview(on_error="pause"))]
    )
    out = wf.run()
    req = only(out.steps_with_errors)
    assert req.step_name == "p"
    req.retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "bad", "a", "bad"]


def test_inner_on_error_pause_inside_a_loop_resumes_the_loop(calls):
    inner = failing(calls, fail=1, on_error="pause")
    wf = make([Loop(name="l", steps=[inner, calls.fn("y")], max_iterations=2), calls.fn("end")])
    out = wf.run()
    req = only(out.steps_with_errors)
    assert (req.path, req.iteration, req.key) == ("0/steps/0", 0, "0/steps@0/0:error:0")
    req.retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["bad", "bad", "y", "bad", "y", "end"]


def test_failure_of_an_agent_step_follows_on_error(calls):
    from workflows.engine import ScriptedAgent

    def explode(history):
        raise RuntimeError("agent broke")

    agent = ScriptedAgent("bot", tools=[], script=[explode])
    wf = make([Step(name="s", agent=agent, human_review=HumanReview(on_error="skip"))])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].error == "agent broke"


def test_condition_on_error_pause_wraps_inner_errors(calls):
    from workflows.engine import Condition

    seen = []

    def evaluator(si):
        seen.append(1)
        return True

    cond = Condition(
        name="c", evaluator=evaluator, steps=[calls.fn("x", fail=1)], human_review=HumanReview(on_error="pause")
    )
    wf = make([cond])
    out = wf.run()
    req = only(out.steps_with_errors)
    assert req.step_name == "c"
    req.retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.count("x") == 2
    assert len(seen) == 2  # a retry re-runs the whole condition


def test_router_error_retry_asks_the_selector_again_not_a_person(calls):
    from workflows.engine import Router

    router = Router(
        name="r",
        choices=[failing(calls, name="x", fail=1)],
        selector=lambda si: "x",
        human_review=HumanReview(on_error="pause"),
    )
    wf = make([router])
    out = wf.run()
    only(out.steps_with_errors).retry()
    out = wf.continue_run(out)
    assert out.steps_requiring_route == []
    assert out.status == RunStatus.COMPLETED
    assert calls.count("x") == 2


def test_failures_are_recorded_as_step_runs(calls, memory_store):
    wf = make([failing(calls, fail=1, on_error="pause")], store=memory_store)
    out = wf.run()
    only(out.steps_with_errors).retry()
    out = wf.continue_run(out)
    runs = [(r["name"], r["attempt"], r["status"], r["error"]) for r in memory_store.step_runs[out.run_id]]
    assert runs == [("bad", 0, "FAILED", "kaput"), ("bad", 1, "COMPLETED", None)]
    assert all(r["started_at"] is not None and r["finished_at"] is not None for r in memory_store.step_runs[out.run_id])
