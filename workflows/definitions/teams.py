"""Teams deciding together: a quorum of two approvers, and four eyes (the starter may not decide)."""

from workflows.engine import HumanReview, OnReject, Step, StepInput, Workflow


def quote(step_input: StepInput):
    return {"item": step_input.input or "laptops", "amount": 12_400, "currency": "EUR"}


def order(step_input: StepInput):
    q = step_input.previous_step_content
    return f"ordered {q['item']} for {q['amount']} {q['currency']}"


purchase_approval = Workflow(
    name="purchase_approval",
    description="A purchase above the limit: two distinct people approve it before it is ordered.",
    steps=[
        Step(name="quote", executor=quote),
        Step(
            name="order",
            executor=order,
            description="Places the order with the supplier.",
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Approve this purchase? Two approvals are needed.",
                on_reject=OnReject.cancel,
                approvals_required=2,
                priority="high",
                due_in=4 * 3600,
            ),
        ),
    ],
)


def release_payment(step_input: StepInput):
    return f"payment released: {step_input.input or 'invoice 2024-17'}"


payment_release = Workflow(
    name="payment_release",
    description="Releases a payment; whoever started the run may not approve it (four eyes).",
    steps=[
        Step(
            name="release",
            executor=release_payment,
            description="Sends the payment to the bank.",
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Release this payment? Someone other than its requester decides.",
                on_reject=OnReject.cancel,
                separation_of_duties=True,
                priority="urgent",
                due_in=30 * 60,
                timeout=24 * 3600,
            ),
        ),
    ],
)
