"""OpenAIChatAgent against a fake chat-completions server on loopback, driven by real workflows."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workflows.engine import HumanReview, MemoryStore, OnError, RunStatus, Step, UserInputField, Workflow, tool
from workflows.engine.openai_agent import OpenAIChatAgent, tool_schema


# -- the fake server ------------------------------------------------------------------------------
def tool_call(call_id, name, args):
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def wants_tools(*tool_calls):
    """A scripted reply: the assistant asks for these tool calls."""
    return {"role": "assistant", "content": None, "tool_calls": list(tool_calls)}


def answer(text):
    """A scripted reply: the assistant's final answer."""
    return {"role": "assistant", "content": text}


def http_error(status, body):
    """A scripted reply: an HTTP error with this JSON body."""
    return ("error", status, body)


class FakeChat:
    """Records each request and answers it with the next scripted reply."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                if not fake.replies:
                    self._send(500, {"error": {"message": "the fake server ran out of scripted replies"}})
                    return
                reply = fake.replies.pop(0)
                if isinstance(reply, tuple):
                    self._send(reply[1], reply[2])
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(fake.requests)}",
                        "object": "chat.completion",
                        "model": "fake",
                        "choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
                    },
                )

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    # Loopback only: no proxy may capture the requests, and no real OpenAI settings leak in.
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("OPENAI_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake():
    server = FakeChat()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(5)


# -- tools ----------------------------------------------------------------------------------------
SENT: list[dict] = []


@pytest.fixture(autouse=True)
def _clear_sent():
    SENT.clear()


@tool(requires_confirmation=True)
def send_email(to: str, subject: str, body: str = "", cc: list[str] | None = None) -> dict:
    """Send an email to a customer.

    Only after a person confirmed it.

    Args:
        to: The recipient's address.
        subject: The subject line.
        body: The message text,
            plain text only.
        cc: More recipients.
    """
    SENT.append({"to": to, "subject": subject, "body": body, "cc": cc})
    return {"sent": True, "to": to}


def get_weather(city: str, days: int = 1, metric: bool = True) -> dict:
    """Forecast for a city.

    Args:
        city: City name.
        days: How many days ahead.
    """
    return {"city": city, "days": days, "forecast": "sunny"}


@tool(requires_user_input=True, user_input_fields=["amount"])
def refund(order_id: str, amount: float, options: dict | None = None) -> str:
    """Refund an order."""
    return f"refunded {amount} on {order_id}"


def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"boom: {reason}")


def make_agent(fake, tools=(send_email, get_weather), **kwargs):
    return OpenAIChatAgent(
        "assistant",
        tools,
        base_url=fake.url,
        api_key="test",
        model="fake",
        instructions="You are a careful assistant.",
        **kwargs,
    )


def make_workflow(agent, **step_kwargs):
    return Workflow(name="chat", steps=[Step(name="chat", agent=agent, **step_kwargs)], store=MemoryStore())


# -- the tests ------------------------------------------------------------------------------------
def test_confirmed_tool_call_runs_once_and_the_final_answer_is_the_step_content(fake):
    args = {"to": "ann@example.com", "subject": "Refund", "body": "Done."}
    fake.replies = [wants_tools(tool_call("call_1", "send_email", args)), answer("I emailed Ann.")]
    wf = make_workflow(make_agent(fake, temperature=0.2))

    out = wf.run("Tell Ann her refund is done")

    assert out.status == RunStatus.PAUSED and out.pause_kind == "executor"
    [req] = out.steps_requiring_executor_resolution
    assert req.kind == "executor_confirmation"
    assert (req.tool_name, req.tool_args) == ("send_email", args)
    assert SENT == [] and len(fake.requests) == 1

    req.confirm()
    out = wf.continue_run(out)

    assert out.status == RunStatus.COMPLETED
    assert out.content == "I emailed Ann."
    assert SENT == [{**args, "cc": None}]  # ran exactly once
    assert len(fake.requests) == 2  # the resume did not ask the model again for turn 0

    first, second = fake.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == "Bearer test"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["body"]["model"] == "fake"
    assert first["body"]["temperature"] == 0.2
    assert first["body"]["messages"] == [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "Tell Ann her refund is done"},
    ]
    assert second["body"]["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "send_email", "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"sent": True, "to": "ann@example.com"})},
    ]


def test_tool_schemas_come_from_signatures_and_docstrings(fake):
    fake.replies = [answer("nothing to do")]
    out = make_workflow(make_agent(fake, tools=(send_email, get_weather, refund))).run("hi")

    assert out.content == "nothing to do"
    tools = {t["function"]["name"]: t for t in fake.requests[0]["body"]["tools"]}
    assert tools["send_email"] == {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email to a customer.",
            "parameters": {
                "type": "object",
                "properties": {
                    "to": {"type": "string", "description": "The recipient's address."},
                    "subject": {"type": "string", "description": "The subject line."},
                    "body": {"type": "string", "description": "The message text, plain text only."},
                    "cc": {"type": "array", "items": {"type": "string"}, "description": "More recipients."},
                },
                "required": ["to", "subject"],
            },
        },
    }
    assert tools["get_weather"]["function"]["description"] == "Forecast for a city."
    assert tools["get_weather"]["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name."},
            "days": {"type": "integer", "description": "How many days ahead."},
            "metric": {"type": "boolean"},
        },
        "required": ["city"],
    }
    # The person supplies `amount`: the model never sees it.
    assert tools["refund"]["function"]["parameters"] == {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "options": {"type": "object"}},
        "required": ["order_id"],
    }


def test_tool_schema_types():
    def f(a: int, b: float, c: bool, d: str, e: list, g: list[int], h: dict, i: int | None, j=3, k: str = "x"):
        """Summary line."""

    params = tool_schema(f)["function"]["parameters"]
    assert params["properties"] == {
        "a": {"type": "integer"},
        "b": {"type": "number"},
        "c": {"type": "boolean"},
        "d": {"type": "string"},
        "e": {"type": "array"},
        "g": {"type": "array", "items": {"type": "integer"}},
        "h": {"type": "object"},
        "i": {"type": "integer"},
        "j": {"type": "integer"},
        "k": {"type": "string"},
    }
    assert params["required"] == ["a", "b", "c", "d", "e", "g", "h"]


def test_two_calls_at_once_both_run_and_come_back_in_one_assistant_turn(fake):
    fake.replies = [
        wants_tools(
            tool_call("call_a", "get_weather", {"city": "Oslo"}),
            tool_call("call_b", "get_weather", {"city": "Rome", "days": 2}),
        ),
        answer("Oslo and Rome: sunny."),
    ]
    out = make_workflow(make_agent(fake)).run("Weather in Oslo and Rome?")

    assert out.status == RunStatus.COMPLETED
    assert out.content == "Oslo and Rome: sunny."
    messages = fake.requests[1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["call_a", "call_b"]
    assert [(m["tool_call_id"], json.loads(m["content"])) for m in messages[3:]] == [
        ("call_a", {"city": "Oslo", "days": 1, "forecast": "sunny"}),
        ("call_b", {"city": "Rome", "days": 2, "forecast": "sunny"}),
    ]


def test_a_rejected_call_sends_the_rejection_to_the_model(fake):
    fake.replies = [
        wants_tools(tool_call("call_1", "send_email", {"to": "bob@example.com", "subject": "Hi"})),
        answer("OK, I will not email Bob."),
    ]
    wf = make_workflow(make_agent(fake))
    out = wf.run("Email Bob")
    out.steps_requiring_executor_resolution[0].reject("Bob asked not to be contacted")
    out = wf.continue_run(out)

    assert out.status == RunStatus.COMPLETED
    assert out.content == "OK, I will not email Bob."
    assert SENT == []
    tool_message = fake.requests[1]["body"]["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "The user rejected this tool call: Bob asked not to be contacted",
    }


def test_user_input_tool_gets_the_persons_values_and_errors_reach_the_model(fake):
    fake.replies = [
        wants_tools(
            tool_call("call_1", "refund", {"order_id": "A-7"}), tool_call("call_2", "explode", {"reason": "x"})
        ),
        answer("Refunded; the other thing failed."),
    ]
    wf = make_workflow(make_agent(fake, tools=(refund, explode)))
    out = wf.run("Refund order A-7")
    [req] = out.steps_requiring_executor_resolution
    assert req.kind == "executor_user_input" and req.tool_args == {"order_id": "A-7"}
    req.provide_user_input({"amount": 12.5})
    out = wf.continue_run(out)

    assert out.content == "Refunded; the other thing failed."
    tool_messages = fake.requests[1]["body"]["messages"][3:]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps("refunded 12.5 on A-7")},
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: boom: x"},
    ]


def test_user_message_carries_user_input_previous_output_and_feedback(fake):
    fake.replies = [answer("Draft one"), answer("Draft two")]
    review = HumanReview(
        requires_user_input=True,
        user_input_schema=[UserInputField(name="tone", field_type="str")],
        requires_output_review=True,
        on_reject="retry",
    )
    wf = make_workflow(make_agent(fake, tools=()), human_review=review)
    out = wf.run("Write a reply")
    out.steps_requiring_user_input[0].set_user_input(tone="friendly")
    out = wf.continue_run(out)
    assert out.steps_requiring_output_review[0].step_output.content == "Draft one"
    out.steps_requiring_output_review[0].reject("Shorter, please")
    out = wf.continue_run(out)
    assert out.steps_requiring_output_review[0].step_output.content == "Draft two"  # attempt 2, reviewed again

    assert "tools" not in fake.requests[0]["body"]
    assert fake.requests[0]["body"]["messages"][-1]["content"] == (
        "Write a reply\n\nUser preferences:\n- tone: friendly"
    )
    assert fake.requests[1]["body"]["messages"][-1]["content"] == (
        "Write a reply\n\nUser preferences:\n- tone: friendly"
        "\n\nYour previous output:\nDraft one\n\nFeedback from reviewer:\nShorter, please"
    )


def test_http_500_fails_the_step_with_a_clear_message(fake):
    fake.replies = [http_error(500, {"error": {"message": "model overloaded", "type": "server_error"}})]
    out = make_workflow(make_agent(fake)).run("hi")

    assert out.status == RunStatus.ERROR
    assert "HTTP 500" in out.error and "model overloaded" in out.error
    assert "/v1/chat/completions" in out.error


def test_http_error_with_on_error_pause_lets_a_person_retry(fake):
    fake.replies = [http_error(429, {"error": {"message": "rate limited"}}), answer("done at last")]
    wf = make_workflow(make_agent(fake), human_review=HumanReview(on_error=OnError.pause))
    out = wf.run("hi")

    [req] = out.steps_with_errors
    assert "HTTP 429" in req.error_message and "rate limited" in req.error_message
    req.retry()
    out = wf.continue_run(out)
    assert out.status == RunStatus.COMPLETED and out.content == "done at last"


def test_invalid_tool_arguments_fail_the_step_naming_the_tool(fake):
    fake.replies = [wants_tools(tool_call("call_1", "get_weather", "{not json"))]
    out = make_workflow(make_agent(fake)).run("hi")

    assert out.status == RunStatus.ERROR
    assert "get_weather" in out.error and "not valid JSON" in out.error


def test_reused_call_ids_are_made_unique(fake):
    fake.replies = [
        wants_tools(tool_call("call_0", "get_weather", {"city": "Oslo"})),
        wants_tools(tool_call("call_0", "get_weather", {"city": "Rome"})),
        answer("both"),
    ]
    out = make_workflow(make_agent(fake)).run("hi")

    assert out.content == "both"
    messages = fake.requests[2]["body"]["messages"]
    ids = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert len(set(ids)) == 2 and ids[0] == "call_0"
    assert json.loads(messages[-1]["content"])["city"] == "Rome"


def test_settings_fall_back_to_the_environment_at_request_time(fake, monkeypatch):
    agent = OpenAIChatAgent("assistant")  # built before the environment is set: read lazily
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    fake.replies = [answer("hello")]
    out = make_workflow(agent).run("hi")

    assert out.content == "hello"
    request = fake.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer from-env"
    assert request["body"]["model"] == "gpt-4o-mini"
    assert "tools" not in request["body"] and request["body"]["messages"] == [{"role": "user", "content": "hi"}]

    monkeypatch.setenv("OPENAI_MODEL", "other-model")
    fake.replies = [answer("again")]
    make_workflow(agent).run("hi")
    assert fake.requests[1]["body"]["model"] == "other-model"


def test_no_api_key_for_openai_itself_fails_before_any_request():
    out = make_workflow(OpenAIChatAgent("assistant")).run("hi")

    assert out.status == RunStatus.ERROR
    assert "OPENAI_API_KEY" in out.error
