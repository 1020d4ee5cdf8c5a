"""HITL at any depth: a gate anywhere pauses; resuming continues every enclosing container."""

from workflows.engine import Condition, HumanReview, Loop, Parallel, Router, RunStatus, Step, Steps

from .helpers import make, only


def gate(calls, name, **review):
    review = review or {"requires_confirmation": True}
    return Step(name=name, executor=calls.fn(name), human_review=HumanReview(**review))


def test_step_in_a_loop_in_steps_in_a_condition(calls):
    loop = Loop(name="l", steps=[calls.fn("x"), gate(calls, "g"), calls.fn("y")], max_iterations=2)
    wf = make(
        [
            calls.fn("start"),
            Condition(name="c", steps=[Steps(name="p", steps=[calls.fn("p1"), loop, calls.fn("p2")]), calls.fn("c2")]),
            calls.fn("end"),
        ]
    )
    out = wf.run()
    req = only(out.active_requirements)
    assert req.path == "1/if/0/steps/1/steps/1"
    assert req.key == "1/if/0/steps/1/steps@0/1:confirmation:0"
    assert out.paused_step_name == "g"
    req.confirm()
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.key == "1/if/0/steps/1/steps@1/1:confirmation:0"
    req.reject()  # skipped in iteration 2 only
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["start", "p1", "x", "g", "y", "x", "y", "p2", "c2", "end"]
    assert out.content == "end(c2(p2(y(x(y(g(x(p1(start(None))))))))))"
    assert [r.step_name for r in out.step_results] == ["start", "c", "end"]


def test_every_primitive_nested_resumes(calls):
    router = Router(name="r", choices=[gate(calls, "rg"), calls.fn("other")], selector=lambda si: "rg")
    wf = make(
        [
            Steps(name="s", steps=[gate(calls, "sg"), calls.fn("s2")]),
            Parallel(Steps(name="b1", steps=[router, calls.fn("b1x")]), gate(calls, "b2"), name="par"),
            Loop(name="l", steps=[Condition(name="c", steps=[gate(calls, "cg")])], max_iterations=2),
            calls.fn("end"),
        ]
    )
    out = wf.run()
    paths = []
    while out.is_paused:
        for req in out.active_requirements:
            paths.append(req.path)
            req.confirm()
        out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    # The branches of "par" pause at the same time; their requirements come in creation order.
    assert paths[:1] + sorted(paths[1:3]) + paths[3:] == [
        "0/steps/0",
        "1/branches/0/steps/0/choices/0",
        "1/branches/1",
        "2/steps/0/if/0",
        "2/steps/0/if/0",
    ]
    names = calls.names()
    assert names[:2] + sorted(names[2:5]) + names[5:] == ["sg", "s2", "b1x", "b2", "rg", "cg", "cg", "end"]


def test_output_review_deep_inside_applies_the_edit_there_only(calls):
    review = {"requires_output_review": True}
    wf = make([Steps(name="p", steps=[gate(calls, "a", **review), gate(calls, "b", **review), calls.fn("c")])])
    out = wf.run()
    only(out.active_requirements).edit("A!")
    out = wf.continue_run(out)
    assert only(out.active_requirements).step_output.content == "b(A!)"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == "c(b(A!))"
    assert [s.content for s in out.step_results[0].steps] == ["A!", "b(A!)", "c(b(A!))"]


def test_output_review_retry_inside_a_loop(calls):
    inner = gate(calls, "w", requires_output_review=True, on_reject="retry")
    wf = make([Loop(name="l", steps=[inner], max_iterations=2)])
    out = wf.run()
    only(out.active_requirements).reject("again")
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.key == "0/steps@0/0:output_review:1"
    assert calls.last("w").rejection_feedback == "again"
    req.confirm()
    out = wf.continue_run(out)
    only(out.active_requirements).confirm()  # iteration 2 is reviewed afresh
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.count("w") == 3
    assert calls.inputs("w")[2].rejection_feedback is None


def test_additional_data_survives_every_resume(calls):
    # agno: additional_data was lost for every step after a resume.
    wf = make(
        [
            gate(calls, "a"),
            Loop(name="l", steps=[gate(calls, "b")], max_iterations=2),
            Parallel(gate(calls, "c"), calls.fn("d"), name="p"),
            calls.fn("e"),
        ]
    )
    out = wf.run(additional_data={"tenant": "acme"})
    while out.is_paused:
        for req in out.active_requirements:
            req.confirm()
        out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert {n: si.additional_data.get("tenant") for n, si in calls.log} == {n: "acme" for n in "abcde"}
    assert out.additional_data == {"tenant": "acme"}


def test_additional_data_is_not_polluted_by_step_extras(calls):
    review = {"requires_output_review": True, "on_reject": "retry"}
    wf = make([gate(calls, "a", **review), calls.fn("b")])
    out = wf.run(additional_data={"k": 1})
    only(out.active_requirements).reject("fb")
    out = wf.continue_run(out)
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert calls.last("a").additional_data == {"k": 1, "rejection_feedback": "fb", "previous_output": "a(None)"}
    assert calls.last("b").additional_data == {"k": 1}
    assert out.additional_data == {"k": 1}


def test_session_state_survives_resumes(calls):
    def bump(si):
        si.session_state["n"] = si.session_state.get("n", 0) + 1
        return si.session_state["n"]

    wf = make(
        [
            Step(name="a", executor=bump),
            Step(name="b", executor=bump, human_review=HumanReview(requires_confirmation=True)),
            Step(name="c", executor=bump),
        ]
    )
    out = wf.run()
    assert out.session_state == {"n": 1}
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert [r.content for r in out.step_results] == [1, 2, 3]
    assert out.session_state == {"n": 3}


def test_session_state_written_by_a_step_under_review_survives(calls):
    def remember(si):
        si.session_state["draft"] = "v1"
        return "v1"

    wf = make(
        [
            Step(name="a", executor=remember, human_review=HumanReview(requires_output_review=True)),
            Step(name="b", executor=lambda si: si.session_state.get("draft")),
        ]
    )
    out = wf.run()
    assert out.session_state == {"draft": "v1"}
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == "v1"


def test_previous_step_outputs_by_name_across_resumes(calls):
    wf = make([calls.fn("a"), gate(calls, "b"), Step(name="c", executor=lambda si: sorted(si.previous_step_outputs))])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == ["a", "b"]
    assert calls.last("b").get_step_content("a") == "a(None)"


def test_input_reaches_nested_steps(calls):
    wf = make([Steps(name="p", steps=[Loop(name="l", steps=[gate(calls, "x")], max_iterations=1)])])
    out = wf.run({"q": 1})
    only(out.active_requirements).confirm()
    wf.continue_run(out)
    assert calls.last("x").input == {"q": 1}


def test_stop_ends_the_workflow_early(calls):
    from workflows.engine import StepOutput

    wf = make(
        [
            calls.fn("a"),
            Steps(name="p", steps=[lambda si: StepOutput(content="halt", stop=True), calls.fn("x")]),
            calls.fn("b"),
        ]
    )
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.content == "halt"
    assert calls.names() == ["a"]


def test_router_review_inside_a_reviewed_loop(calls):
    router = Router(
        name="r",
        choices=[calls.fn("a"), calls.fn("b")],
        selector=lambda si: "a",
        human_review=HumanReview(requires_output_review=True, on_reject="retry"),
    )
    loop = Loop(name="l", steps=[router], max_iterations=3, human_review=HumanReview(requires_iteration_review=True))
    wf = make([loop])
    out = wf.run()
    only(out.active_requirements).reject("use b")  # the router's review
    out = wf.continue_run(out)
    only(out.steps_requiring_route).select("b")
    out = wf.continue_run(out)
    only(out.steps_requiring_output_review).confirm()
    out = wf.continue_run(out)
    req = only(out.steps_requiring_iteration_review)
    assert req.step_output.content == "b(None)"
    req.reject("next")  # iteration 2: the selector picks again, with a fresh attempt count
    out = wf.continue_run(out)
    assert only(out.active_requirements).kind == "output_review"
    assert only(out.active_requirements).step_output.content == "a(b(None))"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    only(out.steps_requiring_iteration_review).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["a", "b", "a"]


def test_condition_gate_inside_a_loop_asks_each_iteration(calls):
    cond = Condition(
        name="c",
        steps=[calls.fn("yes")],
        else_steps=[calls.fn("no")],
        human_review=HumanReview(requires_confirmation=True),
    )
    wf = make([Loop(name="l", steps=[cond], max_iterations=2)])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["yes", "no"]


def test_error_and_review_pending_in_two_branches(calls):
    bad = Step(name="bad", executor=calls.fn("bad", fail=1), human_review=HumanReview(on_error="pause"))
    review = Step(
        name="rev", executor=calls.fn("rev"), human_review=HumanReview(requires_output_review=True, on_reject="retry")
    )
    wf = make([Parallel(bad, review, name="p"), calls.fn("end")])
    out = wf.run()
    assert out.pause_kind == "error"
    assert sorted(r.kind for r in out.active_requirements) == ["error", "output_review"]
    out.steps_requiring_output_review[0].reject("again")
    out = wf.continue_run(out)
    assert out.pause_kind == "error"
    assert calls.count("rev") == 2
    assert sorted(r.kind for r in out.active_requirements) == ["error", "output_review"]
    for req in out.active_requirements:
        req.retry() if req.kind == "error" else req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].content == {"bad": "bad(None)", "rev": "rev(None)"}
    names = calls.names()
    assert sorted(names[:2]) + names[2:] == ["bad", "rev", "rev", "bad", "end"]


def test_iteration_review_after_a_skipped_last_step(calls):
    gated = Step(name="g", executor=calls.fn("g"), human_review=HumanReview(requires_confirmation=True))
    loop = Loop(
        name="l",
        steps=[calls.fn("x"), gated],
        max_iterations=3,
        human_review=HumanReview(requires_iteration_review=True),
    )
    wf = make([loop])
    out = wf.run()
    only(out.active_requirements).reject()  # g skipped in iteration 1
    out = wf.continue_run(out)
    req = only(out.steps_requiring_iteration_review)
    assert req.step_output.content == "x(None)"
    req.confirm()
    assert wf.continue_run(out).content == "x(None)"
