"""Definitions: unsupported HITL options raise at definition time, names, immutability."""

import dataclasses

import pytest

from workflows.engine import (
    Condition,
    DefinitionError,
    HumanReview,
    Loop,
    OnError,
    OnReject,
    OnTimeout,
    Parallel,
    Router,
    Step,
    Steps,
    UserInputField,
    Workflow,
    pause,
)


def f(step_input):
    return "f"


def g(step_input):
    return "g"


def wf_with(node):
    return Workflow("defs", [node])


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (
            Step(name="s", executor=f, human_review=HumanReview(requires_iteration_review=True)),
            ["Step 's'", "requires_iteration_review"],
        ),
        (
            Steps(name="p", steps=[f], human_review=HumanReview(requires_user_input=True)),
            ["Steps 'p'", "requires_user_input"],
        ),
        (
            Steps(name="p", steps=[f], human_review=HumanReview(requires_output_review=True)),
            ["Steps 'p'", "requires_output_review"],
        ),
        (
            Loop(name="l", steps=[f], human_review=HumanReview(requires_output_review=True)),
            ["Loop 'l'", "requires_output_review"],
        ),
        (
            Loop(name="l", steps=[f], human_review=HumanReview(requires_user_input=True)),
            ["Loop 'l'", "requires_user_input"],
        ),
        (
            Condition(name="c", steps=[f], human_review=HumanReview(requires_output_review=True)),
            ["Condition 'c'", "requires_output_review"],
        ),
        (
            Condition(name="c", steps=[f], human_review=HumanReview(requires_iteration_review=True)),
            ["Condition 'c'", "requires_iteration_review"],
        ),
        (
            Router(
                name="r", choices=[f], selector=lambda si: "f", human_review=HumanReview(requires_iteration_review=True)
            ),
            ["Router 'r'", "requires_iteration_review"],
        ),
        (
            Parallel(f, g, name="par", human_review=HumanReview(requires_output_review=True)),
            ["Parallel 'par'", "requires_output_review"],
        ),
        (
            Step(name="s", executor=f, human_review=HumanReview(requires_confirmation=True, on_reject="else")),
            ["Step 's'", "on_reject='else'"],
        ),
        (
            Loop(
                name="l",
                steps=[f],
                human_review=HumanReview(requires_confirmation=True, on_reject=OnReject.else_branch),
            ),
            ["Loop 'l'", "on_reject='else'"],
        ),
        (Step(name="s", executor=f, human_review=HumanReview(timeout=30)), ["Step 's'", "timeout"]),
        (Steps(name="p", steps=[f], human_review=HumanReview(timeout=30)), ["Steps 'p'", "timeout"]),
        (
            Step(name="s", executor=f, human_review=HumanReview(requires_user_input=True)),
            ["Step 's'", "user_input_schema"],
        ),
        (
            Router(
                name="r", choices=[f], selector=lambda si: "f", human_review=HumanReview(allow_multiple_selections=True)
            ),
            ["Router 'r'", "allow_multiple_selections"],
        ),
        (
            Router(
                name="r",
                choices=[f],
                human_review=HumanReview(requires_user_input=True, user_input_schema=[UserInputField("x")]),
            ),
            ["Router 'r'", "user_input_schema"],
        ),
    ],
)
def test_unsupported_option_raises_naming_step_and_option(node, words):
    with pytest.raises(DefinitionError) as info:
        wf_with(node)
    for word in words:
        assert word in str(info.value)


def test_unsupported_option_deep_inside_containers_raises():
    inner = Step(name="deep", executor=f, human_review=HumanReview(requires_iteration_review=True))
    with pytest.raises(DefinitionError, match="Step 'deep'"):
        Workflow("w", [Condition(name="c", steps=[Loop(name="l", steps=[Steps(name="p", steps=[inner])])])])


def test_router_choice_with_unsupported_option_raises():
    bad = Step(name="bad", executor=f, human_review=HumanReview(requires_iteration_review=True))
    with pytest.raises(DefinitionError, match="Step 'bad'"):
        Workflow("w", [Router(name="r", choices=[bad], selector=lambda si: "bad")])


def test_on_timeout_approve_on_user_input_needs_defaults():
    review = HumanReview(
        requires_user_input=True, user_input_schema=[UserInputField("city")], timeout=5, on_timeout="approve"
    )
    with pytest.raises(DefinitionError, match="city"):
        wf_with(Step(name="s", executor=f, human_review=review))
    ok = HumanReview(
        requires_user_input=True,
        user_input_schema=[UserInputField("city", default="Oslo")],
        timeout=5,
        on_timeout="approve",
    )
    wf_with(Step(name="s", executor=f, human_review=ok))


def test_on_timeout_approve_on_route_selection_needs_a_selector():
    review = HumanReview(requires_user_input=True, timeout=5, on_timeout=OnTimeout.approve)
    with pytest.raises(DefinitionError, match="selector"):
        wf_with(Router(name="r", choices=[f, g], human_review=review))
    wf_with(Router(name="r", choices=[f, g], selector=lambda si: "g", human_review=review))


def test_timeout_on_error_pause_is_a_gate():
    # An error pause waits for a person, so a timeout on it is meaningful (every kind may time out).
    wf_with(Step(name="s", executor=f, human_review=HumanReview(on_error=OnError.pause, timeout=30)))


def test_timeout_on_agent_step_is_allowed_for_tool_gates():
    from workflows.engine import ScriptedAgent

    agent = ScriptedAgent("bot", tools=[], script=["done"])
    wf_with(Step(name="s", agent=agent, human_review=HumanReview(timeout=30)))


def test_router_without_selector_or_route_selection_raises():
    with pytest.raises(DefinitionError, match="Router 'r'"):
        wf_with(Router(name="r", choices=[f, g]))
    with pytest.raises(DefinitionError, match="Router 'r'"):
        wf_with(Router(name="r", choices=[f, g], human_review=HumanReview(requires_confirmation=True)))


def test_router_needs_choices_with_unique_names():
    with pytest.raises(DefinitionError, match="no choices"):
        wf_with(Router(name="r", choices=[], selector=lambda si: "x"))
    with pytest.raises(DefinitionError, match="unique"):
        wf_with(Router(name="r", choices=[Step(name="x", executor=f), Step(name="x", executor=g)], selector=g))


def test_human_review_validation():
    with pytest.raises(DefinitionError, match="exclude"):
        HumanReview(requires_output_review=True, requires_iteration_review=True)
    with pytest.raises(DefinitionError, match="on_reject"):
        HumanReview(on_reject="later")
    with pytest.raises(DefinitionError, match="on_error"):
        HumanReview(on_error="explode")
    with pytest.raises(DefinitionError, match="on_timeout"):
        HumanReview(on_timeout="maybe")
    with pytest.raises(DefinitionError, match="timeout"):
        HumanReview(timeout=0)
    with pytest.raises(DefinitionError, match="timeout"):
        HumanReview(timeout="10")
    with pytest.raises(DefinitionError, match="max_retries"):
        HumanReview(max_retries=-1)
    with pytest.raises(DefinitionError, match="user_input_schema"):
        HumanReview(user_input_schema=[UserInputField("x")])


def test_human_review_defaults_and_string_enums():
    review = HumanReview(on_reject="retry", on_error="pause", on_timeout="skip")
    assert review.on_reject is OnReject.retry
    assert review.on_error is OnError.pause
    assert review.on_timeout is OnTimeout.skip
    default = HumanReview()
    assert default.on_reject is None  # each primitive applies its own default
    assert default.on_error is None  # None means fail
    assert default.max_retries == 3
    assert default.on_timeout is OnTimeout.cancel


def test_user_input_field_validation_and_coercion():
    with pytest.raises(DefinitionError, match="field_type"):
        UserInputField("x", field_type="date")
    assert UserInputField("n", field_type=int).field_type == "int"
    field = UserInputField.coerce({"name": "p", "field_type": "str", "allowed_values": ["a", "b"], "junk": 1})
    assert field.allowed_values == ("a", "b")
    review = HumanReview(requires_user_input=True, user_input_schema=[{"name": "x"}])
    assert review.user_input_schema == (UserInputField("x"),)


def test_step_needs_exactly_one_of_executor_and_agent():
    with pytest.raises(DefinitionError):
        Step(name="s")
    with pytest.raises(DefinitionError):
        Step(name="s", executor="not callable")
    with pytest.raises(DefinitionError, match="max_retries"):
        Step(name="s", executor=f, max_retries=-1)
    with pytest.raises(DefinitionError, match="agent has no"):
        Step(name="s", agent=object())


def test_loop_needs_a_positive_max_iterations():
    with pytest.raises(DefinitionError, match="max_iterations"):
        Loop(name="l", steps=[f], max_iterations=0)


def test_workflow_needs_a_name_and_steps():
    with pytest.raises(DefinitionError):
        Workflow("", [f])
    with pytest.raises(DefinitionError):
        Workflow("w", [])
    with pytest.raises(DefinitionError):
        Workflow("w", [42])


def test_default_names_follow_agno():
    wf = Workflow(
        "names",
        [
            f,
            lambda si: 1,
            Steps(steps=[g]),
            Loop(steps=[g]),
            Condition(steps=[g]),
            Router(choices=[f, g], selector=lambda si: "f"),
            Parallel(f, g),
        ],
    )
    assert [n.name for n in wf.steps] == ["f", "step_2", "steps_3", "loop_4", "condition_5", "router_6", "parallel_7"]


def test_bare_functions_and_lists_become_steps():
    wf = Workflow("w", [f, [f, g]])
    assert wf.steps[0].kind == "Step"
    assert wf.steps[1].kind == "Steps"
    assert [s.name for s in wf.steps[1].steps] == ["f", "g"]
    router = Workflow("w", [Router(name="r", choices=[f, [f, g]], selector=lambda si: "f")]).steps[0]
    assert [c.name for c in router.choices] == ["f", "steps_group_2"]


def test_definitions_are_immutable_and_not_mutated_by_workflow():
    step = Step(executor=f)
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.name = "x"
    par = Parallel(f, g)
    with pytest.raises(dataclasses.FrozenInstanceError):
        par.name = "x"
    Workflow("w", [step, par])
    assert step.name == "f"  # the default from the function, set by Step itself
    assert par.name is None  # Workflow named its own copy


def test_index_addresses_every_node_by_path():
    wf = Workflow(
        "paths",
        [
            f,
            Steps(name="p", steps=[f, Loop(name="l", steps=[g])]),
            Condition(name="c", steps=[f], else_steps=[g]),
            Router(name="r", choices=[f, g], selector=lambda si: "f"),
            Parallel(f, g, name="par"),
        ],
    )
    assert set(wf.index) == {
        "0",
        "1",
        "1/steps/0",
        "1/steps/1",
        "1/steps/1/steps/0",
        "2",
        "2/if/0",
        "2/else/0",
        "3",
        "3/choices/0",
        "3/choices/1",
        "4",
        "4/branches/0",
        "4/branches/1",
    }


def test_fingerprint_is_stable_and_follows_the_definition():
    one = Workflow("w", [f, Step(name="g", executor=g, human_review=HumanReview(requires_confirmation=True))])
    two = Workflow("w", [f, Step(name="g", executor=g, human_review=HumanReview(requires_confirmation=True))])
    three = Workflow("w", [f, Step(name="g", executor=g)])
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != three.fingerprint
    assert one.describe()[1]["human_review"]["requires_confirmation"] is True


def test_pause_decorator_builds_the_review():
    @pause
    def plain(si):
        return 1

    @pause(name="ask", requires_user_input=True, user_input_schema=[UserInputField("x")], user_input_message="?")
    def asking(si):
        return 2

    assert Step(executor=plain).human_review.requires_confirmation is True
    step = Step(executor=asking)
    assert step.name == "ask"
    assert step.human_review.requires_user_input is True
    assert step.human_review.requires_confirmation is False
    # An explicit human_review wins entirely.
    assert Step(executor=plain, human_review=HumanReview(requires_output_review=True)).human_review == HumanReview(
        requires_output_review=True
    )


def test_human_review_may_be_given_as_a_dict():
    step = Step(name="s", executor=f, human_review={"requires_confirmation": True, "on_reject": "cancel"})
    assert step.human_review.on_reject is OnReject.cancel
    with pytest.raises(DefinitionError):
        Step(name="s", executor=f, human_review="yes")
