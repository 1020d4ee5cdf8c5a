"""Executor-level pauses: a scripted agent whose tools wait for a person."""

from workflows.engine import HumanReview, ScriptedAgent, Step, ToolCall, Workflow, tool


@tool(requires_confirmation=True)
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    return f"email to {to}: {subject}"


@tool(requires_user_input=True, user_input_fields=["amount"])
def issue_credit(customer: str, amount: int) -> str:
    """Credit a customer's account."""
    return f"credited {customer} with {amount}"


@tool(external_execution=True)
def lookup_contract(customer: str) -> str:
    """Look up a customer's contract in the legal archive (done by a person)."""
    raise RuntimeError("runs outside the system")


def _final(history):
    return "; ".join(
        f"{r.name}: {r.result if r.status == 'ok' else r.status + ' (' + str(r.note) + ')'}" for r in history
    )


support_agent = Workflow(
    name="support_agent",
    description="A support agent emails a customer (confirm), credits them (input) and checks the contract "
    "(external result).",
    steps=[
        Step(
            name="resolve_ticket",
            agent=ScriptedAgent(
                name="support_bot",
                tools=[send_email, issue_credit, lookup_contract],
                script=[
                    ToolCall("lookup_contract", {"customer": "ACME"}),
                    [
                        ToolCall("send_email", {"to": "ops@acme.test", "subject": "Your ticket"}),
                        ToolCall("issue_credit", {"customer": "ACME"}),
                    ],
                    _final,
                ],
            ),
            human_review=HumanReview(requires_output_review=True),
        ),
    ],
)
