"""Executor-level pauses through the services: tool decisions from people, a tool that runs once
even when its continuation is delivered twice at the same time (PostgreSQL, real threads)."""

import threading

import pytest
from django.db import connection

from workflows import registry, services
from workflows.engine import ScriptedAgent, Step, ToolCall, ValidationError, Workflow, tool
from workflows.models import Requirement, WorkflowRun

CHARGES = []


@tool(requires_confirmation=True)
def charge(customer: str, cents: int) -> str:
    """Charge a customer's card."""
    CHARGES.append((customer, cents))
    return f"charged {customer} {cents}"


@tool(requires_user_input=True, user_input_fields=["cents"])
def refund(customer: str, cents: int) -> str:
    """Refund a customer."""
    return f"refunded {customer} {cents}"


billing = registry.register(
    Workflow(
        name="test_billing_agent",
        steps=[
            Step(
                name="bill",
                agent=ScriptedAgent(
                    "biller",
                    tools=[charge, refund],
                    script=[
                        [
                            ToolCall("charge", {"customer": "acme", "cents": 500}),
                            ToolCall("refund", {"customer": "acme"}),
                        ],
                        lambda history: "; ".join(f"{r.name}={r.status}:{r.result}" for r in history),
                    ],
                ),
            ),
        ],
    )
)


def _paused():
    CHARGES.clear()
    out = billing.run("invoice 7")
    assert out.pause_kind == "executor"
    return {r.kind: r for r in Requirement.objects.filter(run_id=out.run_id, status="PENDING")}, out.run_id


@pytest.mark.django_db
def test_the_run_continues_only_when_every_call_of_the_turn_is_decided(reviewer, sent_runs):
    reqs, run_id = _paused()
    confirm, refund_input = reqs["executor_confirmation"], reqs["executor_user_input"]
    with pytest.raises(ValidationError) as err:
        services.requirement_resolve(
            requirement_id=refund_input.id,
            user=reviewer,
            action="submit",
            data={"cents": "ten"},
            version=refund_input.version,
        )
    assert "cents" in err.value.errors
    services.requirement_resolve(requirement_id=confirm.id, user=reviewer, action="confirm", version=confirm.version)
    assert CHARGES == []  # decided, but the turn still waits for the refund amount
    services.requirement_resolve(
        requirement_id=refund_input.id,
        user=reviewer,
        action="submit",
        data={"cents": 200},
        version=refund_input.version,
    )
    services.run_advance(run_id=run_id)
    run = WorkflowRun.objects.get(id=run_id)
    assert run.status == "COMPLETED", run.content
    assert run.content == "charge=ok:charged acme 500; refund=ok:refunded acme 200"
    assert CHARGES == [("acme", 500)]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_continuation_delivered_twice_at_once_runs_the_tool_once(reviewer, sent_runs):
    assert connection.vendor == "postgresql"
    reqs, run_id = _paused()
    services.requirement_resolve(
        requirement_id=reqs["executor_confirmation"].id, user=reviewer, action="confirm", version=1
    )
    services.requirement_resolve(
        requirement_id=reqs["executor_user_input"].id, user=reviewer, action="submit", data={"cents": 200}, version=1
    )
    barrier = threading.Barrier(2)

    def deliver():
        try:
            barrier.wait(5)
            services.run_advance(run_id=run_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    services.run_advance(run_id=run_id)  # and a late third delivery
    assert WorkflowRun.objects.get(id=run_id).status == "COMPLETED"
    assert CHARGES == [("acme", 500)]
