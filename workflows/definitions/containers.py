"""Containers: router selection, loop iteration review, condition, parallel, nested gates."""

from workflows.engine import (
    Condition,
    HumanReview,
    Loop,
    Parallel,
    Router,
    Step,
    StepInput,
    Steps,
    Workflow,
)


def quick_answer(step_input: StepInput):
    return f"quick answer to {step_input.input}"


def deep_research(step_input: StepInput):
    return f"deep research on {step_input.input}"


def ask_expert(step_input: StepInput):
    return f"expert opinion on {step_input.input}"


research_router = Workflow(
    name="research_router",
    description="A person picks how to research a question, then reviews the result.",
    steps=[
        Router(
            name="choose_research",
            choices=[
                Step(name="quick", executor=quick_answer, description="A short answer in seconds."),
                Step(name="deep", executor=deep_research, description="Several sources, takes longer."),
                Step(name="expert", executor=ask_expert, description="Ask a human expert."),
            ],
            human_review=HumanReview(
                requires_user_input=True,
                allow_multiple_selections=True,
                user_input_message="How should we research this?",
            ),
        ),
    ],
)


def improve_copy(step_input: StepInput):
    base = step_input.previous_step_content or step_input.input or "tagline"
    note = step_input.rejection_feedback
    return f"{base}+" if not note else f"{base} [{note}]"


copy_refiner = Workflow(
    name="copy_refiner",
    description="Refines marketing copy one iteration at a time until a reviewer accepts it.",
    steps=[
        Loop(
            name="refine",
            steps=[Step(name="improve", executor=improve_copy)],
            max_iterations=5,
            human_review=HumanReview(requires_iteration_review=True),
        ),
    ],
)


refund_decision = Workflow(
    name="refund_decision",
    description="A person decides whether a refund is issued (confirm) or a voucher offered (reject).",
    steps=[
        Condition(
            name="refund_or_voucher",
            steps=[Step(name="issue_refund", executor=lambda si: f"refund issued for {si.input}")],
            else_steps=[Step(name="offer_voucher", executor=lambda si: f"voucher offered for {si.input}")],
            human_review=HumanReview(
                requires_confirmation=True, confirmation_message="Issue a cash refund? Reject to offer a voucher."
            ),
        ),
    ],
)


def check(name):
    def run(step_input: StepInput):
        return f"{name} ok"

    run.__name__ = name
    return run


release_checks = Workflow(
    name="release_checks",
    description="Parallel release checks; security and legal each need their own sign-off.",
    steps=[
        Parallel(
            Step(name="tests", executor=check("tests")),
            Step(
                name="security",
                executor=check("security"),
                human_review=HumanReview(requires_confirmation=True, confirmation_message="Security sign-off?"),
            ),
            Step(
                name="legal",
                executor=check("legal"),
                human_review=HumanReview(requires_confirmation=True, confirmation_message="Legal sign-off?"),
            ),
            name="checks",
        ),
        Step(name="ship", executor=lambda si: f"shipped with {sorted(si.previous_step_content)}"),
    ],
)


onboarding = Workflow(
    name="onboarding",
    description="Nested gates: an approval inside a loop inside a pipeline inside a condition.",
    steps=[
        Condition(
            name="is_enterprise",
            evaluator=lambda si: "enterprise" in str(si.input or "enterprise"),
            steps=[
                Steps(
                    name="setup",
                    steps=[
                        Step(name="create_account", executor=check("create_account")),
                        Loop(
                            name="provision",
                            max_iterations=2,
                            steps=[
                                Step(
                                    name="allocate",
                                    executor=check("allocate"),
                                    human_review=HumanReview(
                                        requires_confirmation=True, confirmation_message="Allocate resources?"
                                    ),
                                ),
                                Step(name="verify", executor=check("verify")),
                            ],
                        ),
                        Step(name="welcome", executor=check("welcome")),
                    ],
                ),
            ],
        ),
    ],
)
