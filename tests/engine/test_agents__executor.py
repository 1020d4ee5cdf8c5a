"""Executor level: an agent's tool calls pause the run; validated, exactly-once, inside containers (resumed)."""

import pytest

from workflows.engine import (
    DefinitionError,
    HumanReview,
    Loop,
    Parallel,
    RunStateError,
    RunStatus,
    ScriptedAgent,
    Step,
    Steps,
    ToolCall,
    ToolResult,
    UserInputField,
    ValidationError,
    keys,
    tool,
)

from .helpers import make, only


class Tools:
    """Tools that record their calls."""

    def __init__(self):
        self.log = []
        outer = self

        @tool(requires_confirmation=True)
        def delete(path: str) -> str:
            """Delete a file."""
            outer.log.append(("delete", path))
            return f"deleted {path}"

        @tool(requires_user_input=True, user_input_fields=["recipient"])
        def email(subject: str, recipient: str = "") -> str:
            outer.log.append(("email", subject, recipient))
            return f"mailed {recipient}: {subject}"

        @tool(external_execution=True)
        def lookup(q: str) -> str:
            outer.log.append(("lookup", q))
            return "never called here"

        @tool
        def echo(text: str) -> str:
            outer.log.append(("echo", text))
            return text.upper()

        self.delete, self.email, self.lookup, self.echo = delete, email, lookup, echo
        self.all = [delete, email, lookup, echo]


@pytest.fixture
def tools():
    return Tools()


def agent_step(tools, script, name="act", **review):
    agent = ScriptedAgent("bot", tools=tools.all, script=script)
    return Step(name=name, agent=agent, human_review=HumanReview(**review) if review else None)


def summary(history):
    return "; ".join(f"{h.name}:{h.status}:{h.result}:{h.note}" for h in history)


def test_tool_without_flags_runs_freely(tools):
    wf = make([agent_step(tools, [ToolCall("echo", {"text": "hi"}), summary])])
    out = wf.run()
    assert out.status == RunStatus.COMPLETED
    assert out.content == "echo:ok:HI:None"
    assert out.step_results[0].step_name == "act"


def test_confirmation_tool_pauses(tools):
    wf = make([agent_step(tools, [ToolCall("delete", {"path": "/tmp/x"}), summary]), lambda si: "after"])
    out = wf.run()
    assert out.is_paused and out.pause_kind == "executor"
    assert out.paused_step_name == "act"
    req = only(out.steps_requiring_executor_resolution)
    assert req.kind == "executor_confirmation"
    assert req.tool_name == "delete" and req.tool_args == {"path": "/tmp/x"}
    assert req.payload["agent"] == "bot"
    assert req.payload["description"] == "Delete a file."
    assert req.message == "Allow bot to call delete?"
    assert out.steps_requiring_confirmation == []
    assert out.step_results == []
    assert tools.log == []


def test_confirm_runs_the_tool_once(tools):
    wf = make([agent_step(tools, [ToolCall("delete", {"path": "x"}), summary]), lambda si: "after"])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].content == "delete:ok:deleted x:None"
    assert tools.log == [("delete", "x")]
    assert any(e.event == "StepExecutorContinued" for e in out.events)


def test_reject_passes_the_note_to_the_agent(tools):
    wf = make([agent_step(tools, [ToolCall("delete", {"path": "x"}), summary])])
    out = wf.run()
    only(out.active_requirements).reject("not that file")
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.content == "delete:rejected:None:not that file"
    assert tools.log == []


def test_reject_without_a_note(tools):
    wf = make([agent_step(tools, [ToolCall("delete", {"path": "x"}), summary])])
    out = wf.run()
    only(out.active_requirements).reject()
    assert wf.continue_run(out).content == "delete:rejected:None:rejected by a reviewer"


def test_user_input_tool(tools):
    wf = make([agent_step(tools, [ToolCall("email", {"subject": "Hi"}), summary])])
    out = wf.run()
    req = only(out.steps_requiring_executor_resolution)
    assert req.kind == "executor_user_input"
    assert [f.name for f in req.schema] == ["recipient"]
    with pytest.raises(ValidationError):
        req.provide_user_input({"recipient": 5})
    req.provide_user_input({"recipient": "ann@example.com"})
    out = wf.continue_run(out)
    assert tools.log == [("email", "Hi", "ann@example.com")]
    assert out.content == "email:ok:mailed ann@example.com: Hi:None"


def test_external_execution_tool(tools):
    wf = make([agent_step(tools, [ToolCall("lookup", {"q": "weather"}), summary])])
    out = wf.run()
    req = only(out.active_requirements)
    assert req.kind == "external_execution"
    req.set_external_execution_result({"temp": 21})
    out = wf.continue_run(out)
    assert out.content == "lookup:ok:{'temp': 21}:None"
    assert tools.log == []  # the person ran it, not the engine


def test_several_calls_in_one_turn_each_get_a_requirement(tools):
    script = [
        [ToolCall("delete", {"path": "a"}), ToolCall("echo", {"text": "x"}), ToolCall("delete", {"path": "b"})],
        summary,
    ]
    wf = make([agent_step(tools, script)])
    out = wf.run()
    reqs = out.steps_requiring_executor_resolution
    assert [r.tool_args for r in reqs] == [{"path": "a"}, {"path": "b"}]
    assert len({r.batch for r in reqs}) == 1
    assert tools.log == [("echo", "x")]  # the free call ran
    reqs[0].confirm()
    with pytest.raises(RunStateError, match="unresolved executor requirements"):
        wf.continue_run(out)  # half a batch is refused, and nothing is stored
    stored = wf.get_run_output(out.run_id)
    assert stored.is_paused and len(stored.active_requirements) == 2
    assert tools.log == [("echo", "x")]
    reqs[1].reject("keep b")  # the caller's objects keep their decisions: finish the batch, go on
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert tools.log == [("echo", "x"), ("delete", "a")]
    assert out.content == "delete:ok:deleted a:None; echo:ok:X:None; delete:rejected:None:keep b"


def test_calls_over_several_turns_pause_in_turn(tools):
    script = [ToolCall("delete", {"path": "a"}), ToolCall("email", {"subject": "done"}), summary]
    wf = make([agent_step(tools, script)])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    req = only(out.active_requirements)
    assert req.kind == "executor_user_input"
    req.provide_user_input({"recipient": "bo"})
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert tools.log == [("delete", "a"), ("email", "done", "bo")]
    assert [r.kind for r in out.step_requirements] == ["executor_confirmation", "executor_user_input"]


def test_agent_sees_results_and_is_asked_once_per_turn(tools):
    asked = []

    class Agent:
        name = "custom"

        def __init__(self):
            self.tools = tools.all

        def next_action(self, step_input, history):
            asked.append([h.status for h in history])
            if not history:
                return ToolCall("delete", {"path": "p"}, id="call-1")
            return f"final after {history[0].id}"

    wf = make([Step(name="s", agent=Agent())])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == "final after call-1"
    assert asked == [[], ["ok"]]  # the first turn was not asked again on resume


def test_tool_error_is_shown_to_the_agent(tools):
    @tool
    def broken():
        raise ValueError("no disk")

    agent = ScriptedAgent("bot", tools=[broken], script=[ToolCall("broken"), summary])
    out = make([Step(name="s", agent=agent)]).run()
    assert out.content == "broken:error:None:no disk"


def test_unknown_tool_is_shown_to_the_agent(tools):
    out = make([agent_step(tools, [ToolCall("nope"), summary])]).run()
    assert out.content == "nope:error:None:Unknown tool 'nope'"


def test_agent_input_and_history_types(tools):
    seen = []

    def final(history):
        seen.append(history)
        return "ok"

    wf = make([lambda si: "prev", agent_step(tools, [ToolCall("echo", {"text": "a"}), final])])
    wf.run("the input", additional_data={"k": 1})
    assert isinstance(seen[0][0], ToolResult)
    assert seen[0][0].turn == 0


def test_tool_flags_are_validated():
    def f(x: int):
        return x

    with pytest.raises(DefinitionError):
        tool(f, requires_confirmation=True, external_execution=True)
    with pytest.raises(DefinitionError):
        tool(f, requires_user_input=True)
    with pytest.raises(DefinitionError):
        tool(f, user_input_fields=["x"])
    with pytest.raises(DefinitionError, match="unknown argument"):
        tool(f, requires_user_input=True, user_input_fields=["y"])
    t = tool(f, requires_user_input=True, user_input_fields=["x", UserInputField("z", field_type="bool")])
    assert [(u.name, u.field_type) for u in t.user_input_fields] == [("x", "int"), ("z", "bool")]
    assert t(3) == 3


def test_executor_pause_inside_steps_resumes_the_rest(tools):
    # agno: after resume, the container's remaining inner steps were skipped.
    wf = make(
        [
            Steps(
                name="p",
                steps=[
                    agent_step(tools, [ToolCall("delete", {"path": "x"}), "done"]),
                    lambda si: f"tail({si.previous_step_content})",
                ],
            ),
            lambda si: "end",
        ]
    )
    out = wf.run()
    req = only(out.active_requirements)
    assert req.path == "0/steps/0"
    assert out.paused_step_name == "act"
    req.confirm()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert out.step_results[0].content == "tail(done)"
    assert out.content == "end"


def test_executor_pause_inside_a_loop_resumes_remaining_iterations(tools):
    script = [ToolCall("delete", {"path": "x"}), "done"]
    wf = make([Loop(name="l", steps=[agent_step(tools, script)], max_iterations=3)])
    out = wf.run()
    for iteration in range(3):
        req = only(out.active_requirements)
        assert req.iteration == iteration
        req.confirm()
        out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED
    assert tools.log == [("delete", "x")] * 3


def test_executor_pauses_in_parallel_branches(tools):
    a = agent_step(tools, [ToolCall("delete", {"path": "a"}), "A"], name="a")
    b = agent_step(tools, [ToolCall("delete", {"path": "b"}), "B"], name="b")
    wf = make([Parallel(a, b, name="p")])
    out = wf.run()
    ra, rb = out.steps_requiring_executor_resolution
    assert ra.batch != rb.batch
    rb.confirm()
    out = wf.continue_run(out)  # a different batch may stay open
    assert tools.log == [("delete", "b")]
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == {"a": "A", "b": "B"}


def test_step_gates_and_tool_gate_on_one_step_in_order(tools):
    # as agno does: confirmation, then the tool pause, then the output review; all kept as history.
    step = agent_step(
        tools, [ToolCall("delete", {"path": "x"}), summary], requires_confirmation=True, requires_output_review=True
    )
    wf = make([step])
    out = wf.run()
    assert (out.pause_kind, only(out.active_requirements).kind) == ("step", "confirmation")
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert (out.pause_kind, only(out.active_requirements).kind) == ("executor", "executor_confirmation")
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert (out.pause_kind, only(out.active_requirements).kind) == ("step", "output_review")
    assert only(out.active_requirements).step_output.content == "delete:ok:deleted x:None"
    only(out.active_requirements).edit("edited")
    out = wf.continue_run(out)
    assert out.content == "edited"
    assert len(out.step_requirements) == 3
    assert tools.log == [("delete", "x")]


def test_output_review_retry_reruns_the_agent(tools):
    step = agent_step(tools, [ToolCall("echo", {"text": "a"}), summary], requires_output_review=True, on_reject="retry")
    wf = make([step])
    out = wf.run()
    only(out.active_requirements).reject("redo")
    out = wf.continue_run(out)
    assert tools.log == [("echo", "a"), ("echo", "a")]  # a new attempt is a new agent run
    only(out.active_requirements).confirm()
    assert wf.continue_run(out).status == RunStatus.COMPLETED


def test_agent_returning_nothing_fails_the_step(tools):
    agent = ScriptedAgent("bot", tools=[], script=[lambda history: None])
    out = make([Step(name="s", agent=agent)]).run()
    assert out.status == RunStatus.ERROR


def test_agent_that_never_finishes_fails(tools):
    echo = tools.echo

    class Looper:
        name = "looper"
        tools = [echo]

        def next_action(self, step_input, history):
            return ToolCall("echo", {"text": "again"})

    out = make([Step(name="s", agent=Looper())]).run()
    assert out.status == RunStatus.ERROR
    assert "did not finish" in out.content


def test_tool_result_is_stored_before_the_consumer_sees_it(tools, memory_store):
    wf = make([agent_step(tools, [ToolCall("delete", {"path": "x"}), "done"])], store=memory_store)
    out = wf.run()
    only(out.active_requirements).confirm()
    stream = wf.continue_run(out, stream=True)
    for _event in stream:
        if tools.log:  # the first event handed out since the tool ran
            break
    # The worker "dies" while handling the event: the tool's result is already stored.
    record = memory_store.load(out.run_id).memo[keys.memo_of_attempt(keys.AGENT, "0", 0)]
    assert list(record["results"].values()) == [{"status": "ok", "result": "deleted x"}]
    assert tools.log == [("delete", "x")]


def test_executor_pause_inside_a_router_choice_and_a_condition(tools):
    from workflows.engine import Condition, Router

    router = Router(
        name="r",
        choices=[agent_step(tools, [ToolCall("delete", {"path": "r"}), "R"], name="ra"), lambda si: "other"],
        selector=lambda si: "ra",
    )
    cond = Condition(name="c", steps=[agent_step(tools, [ToolCall("delete", {"path": "c"}), "C"], name="ca")])
    wf = make([router, cond, lambda si: f"end({si.previous_step_content})"])
    out = wf.run()
    assert only(out.active_requirements).path == "0/choices/0"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert only(out.active_requirements).path == "1/if/0"
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    assert out.content == "end(C)"
    assert tools.log == [("delete", "r"), ("delete", "c")]


def test_executor_user_input_in_parts_and_external_reject(tools):
    wf = make([agent_step(tools, [[ToolCall("email", {"subject": "s"}), ToolCall("lookup", {"q": "x"})], summary])])
    out = wf.run()
    email, lookup = out.steps_requiring_executor_resolution
    email.set_user_input(recipient="zed")
    lookup.reject("do not look it up")
    out = wf.continue_run(out)
    assert out.content == "email:ok:mailed zed: s:None; lookup:rejected:None:do not look it up"


def test_agent_sees_the_step_input(tools):
    seen = []

    class Agent:
        name = "a"
        tools = ()

        def next_action(self, step_input, history):
            seen.append((step_input.input, step_input.previous_step_content, step_input.additional_data))
            return "ok"

    wf = make([lambda si: "prev", Step(name="s", agent=Agent())])
    wf.run("in", additional_data={"tenant": "acme"})
    assert seen == [("in", "prev", {"tenant": "acme"})]


def test_scripted_agent_final_answer_defaults_to_the_last_result(tools):
    agent = ScriptedAgent("bot", tools=tools.all, script=[ToolCall("echo", {"text": "last"})])
    assert make([Step(name="s", agent=agent)]).run().content == "LAST"
    assert Step(agent=agent).name == "bot"
