"""Agent turns: automatic retries of a failing agent call, and call ids that cannot collide."""

from workflows.engine import RunStatus, ScriptedAgent, Step, ToolCall, tool

from .helpers import make, only


class FlakyAgent:
    """Fails ``failures`` times before answering: a model endpoint's passing error."""

    name = "flaky"

    def __init__(self, failures, tools=()):
        self.failures, self.calls, self.tools = failures, 0, list(tools)

    def next_action(self, step_input, history):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("model endpoint returned 503")
        return "answer"


def test_step_max_retries_retries_a_failing_agent_call():
    agent = FlakyAgent(failures=2)
    out = make([Step(name="ask", agent=agent, max_retries=2)]).run()
    assert out.status == RunStatus.COMPLETED and out.content == "answer" and agent.calls == 3


def test_without_retries_the_agent_failure_fails_the_step():
    out = make([Step(name="ask", agent=FlakyAgent(failures=1))]).run()
    assert out.status == RunStatus.ERROR and "503" in out.content


def test_reused_call_ids_still_run_every_call():
    ran = []

    @tool(requires_confirmation=True)
    def pay(amount: int) -> str:
        ran.append(amount)
        return f"paid {amount}"

    script = [
        ToolCall("pay", {"amount": 1}, id="call_1"),
        ToolCall("pay", {"amount": 2}, id="call_1"),
        lambda history: ",".join(str(r.result) for r in history),
    ]
    wf = make([Step(name="pay", agent=ScriptedAgent("bot", tools=[pay], script=script))])
    out = wf.run()
    only(out.active_requirements).confirm()
    out = wf.continue_run(out)
    second = only(out.active_requirements)
    assert second.tool_args == {"amount": 2}  # not taken for the first call's result
    second.confirm()
    out = wf.continue_run(out)
    assert out.content == "paid 1,paid 2" and ran == [1, 2]
