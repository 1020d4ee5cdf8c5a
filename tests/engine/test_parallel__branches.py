"""Parallel: branches pause independently, several requirements at once, completed branches never rerun."""

from workflows.engine import HumanReview, Parallel, RunStatus, Step, Steps

from .helpers import make, only


def gated(calls, name, **review):
    return Step(name=name, executor=calls.fn(name), human_review=HumanReview(requires_confirmation=True, **review))


def test_branches_run_with_the_same_input(calls):
    wf = make([calls.fn("a"), Parallel(calls.fn("x"), calls.fn("y"), name="p"), calls.fn("b")])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[1].content == {"x": "x(a(None))", "y": "y(a(None))"}
    assert calls.last("b").previous_step_content == {"x": "x(a(None))", "y": "y(a(None))"}
    assert calls.last("b").get_step_content("x") == "x(a(None))"


def test_each_branch_pauses_on_its_own(calls):
    wf = make([Parallel(gated(calls, "x"), calls.fn("free"), gated(calls, "y"), name="p"), calls.fn("b")])
    out = wf.run()
    assert out.is_paused
    reqs = out.steps_requiring_confirmation
    assert [r.step_name for r in reqs] == ["x", "y"]
    assert [r.path for r in reqs] == ["0/branches/0", "0/branches/2"]
    assert calls.names() == ["free"]  # the ungated branch went on


def test_resolving_one_re_pauses_on_the_other(calls):
    wf = make([Parallel(gated(calls, "x"), calls.fn("free"), gated(calls, "y"), name="p"), calls.fn("b")])
    out = wf.run()
    x, y = out.steps_requiring_confirmation
    y.confirm()
    out = wf.continue_run(out)
    assert out.is_paused
    assert only(out.active_requirements).id == x.id
    assert calls.names() == ["free", "y"]
    only(out.active_requirements).reject()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["free", "y", "b"]  # completed branches never rerun
    assert out.step_results[0].content == {"free": "free(None)", "y": "y(None)"}


def test_resolving_all_at_once(calls):
    wf = make([Parallel(gated(calls, "x"), gated(calls, "y"), name="p")])
    out = wf.run()
    for req in out.active_requirements:
        req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert calls.names() == ["x", "y"]


def test_different_kinds_in_branches(calls):
    review = Step(name="r", executor=calls.fn("r"), human_review=HumanReview(requires_output_review=True))
    wf = make([Parallel(gated(calls, "x"), review, name="p")])
    out = wf.run()
    assert [r.kind for r in out.active_requirements] == ["confirmation", "output_review"]
    assert out.steps_requiring_output_review[0].step_output.content == "r(None)"
    out.steps_requiring_output_review[0].edit("R!")
    out = wf.continue_run(out)
    out.steps_requiring_confirmation[0].confirm()
    out = wf.continue_run(out)
    assert out.content == {"x": "x(None)", "r": "R!"}
    assert calls.names() == ["r", "x"]


def test_parallel_confirmation(calls):
    wf = make([Parallel(calls.fn("x"), calls.fn("y"), name="p", human_review=HumanReview(requires_confirmation=True))])
    out = wf.run()
    req = only(out.steps_requiring_confirmation)
    assert req.step_name == "p"
    assert req.payload == {"branches": ["x", "y"]}
    req.confirm()
    assert wf.continue_run(out).status == RunStatus.COMPLETED
    assert calls.names() == ["x", "y"]


def test_gates_deep_inside_branches(calls):
    left = Steps(name="left", steps=[calls.fn("l1"), gated(calls, "l2"), calls.fn("l3")])
    right = Steps(name="right", steps=[gated(calls, "r1"), calls.fn("r2")])
    wf = make([Parallel(left, right, name="p"), calls.fn("end")])
    out = wf.run()
    # The branches run at the same time: their requirements come in the order they were made.
    assert sorted(r.path for r in out.active_requirements) == ["0/branches/0/steps/1", "0/branches/1/steps/0"]
    next(r for r in out.active_requirements if r.step_name == "r1").confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["l1", "r1", "r2"]
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert calls.names() == ["l1", "r1", "r2", "l2", "l3", "end"]
    assert out.content == "end({'left': 'l3(l2(l1(None)))', 'right': 'r2(r1(None))'})"


def test_a_failing_branch_fails_the_run(calls):
    wf = make([Parallel(gated(calls, "x"), calls.fn("bad", fail=1), name="p")])
    out = wf.run()
    assert out.status == RunStatus.ERROR
    assert out.active_requirements == []
    assert out.step_requirements[0].status == "CANCELLED"
