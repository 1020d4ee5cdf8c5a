"""A tool confirmation confirmed with edited arguments: checked against the tool's parameters, and
the tool runs with them; the reviewer sees the conversation so far in the requirement's payload."""

from __future__ import annotations

import pytest

from workflows.engine import ScriptedAgent, Step, ToolCall, Workflow, tool
from workflows.engine.errors import ValidationError
from workflows.engine.requirements import clean_tool_args


@tool(requires_confirmation=True)
def transfer(account: str, amount: int, memo: str = "") -> str:
    return f"{amount} to {account} {memo}".strip()


@tool
def balance(account) -> int:
    return 100


def test_parameters_come_from_the_signature():
    assert transfer.parameters == [
        {"name": "account", "field_type": "str", "required": True},
        {"name": "amount", "field_type": "int", "required": True},
        {"name": "memo", "field_type": "str", "required": False},
    ]
    assert balance.parameters == [{"name": "account", "field_type": "any", "required": True}]


def test_edited_arguments_are_checked():
    params = transfer.parameters
    assert clean_tool_args(params, {"account": "A", "amount": 5}) == {"account": "A", "amount": 5}
    with pytest.raises(ValidationError) as exc:
        clean_tool_args(params, {"account": "A", "amount": "5", "fee": 1})
    assert exc.value.errors == {"args": "fee: unknown argument. amount: Enter a whole number."}


def test_the_tool_runs_with_the_edited_arguments_and_the_payload_holds_the_conversation():
    wf = Workflow(
        name="edit_args",
        steps=[
            Step(
                name="pay",
                agent=ScriptedAgent(
                    name="payer",
                    tools=[balance, transfer],
                    script=[
                        ToolCall("balance", {"account": "A"}),
                        ToolCall("transfer", {"account": "A", "amount": 500}),
                        lambda history: history[-1].result,
                    ],
                ),
            )
        ],
    )
    out = wf.run("pay the invoice")
    req = out.active_requirements[0]
    conversation = req.payload["conversation"]
    assert conversation[0] == {"role": "input", "content": "pay the invoice"}
    assert conversation[1]["name"] == "balance" and conversation[1]["result"] == 100
    req.decide("edit", {"args": {"account": "A", "amount": 50}})
    out = wf.continue_run(out)
    assert out.content == "50 to A"
