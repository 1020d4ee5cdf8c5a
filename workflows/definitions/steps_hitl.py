"""Step-level pauses: confirmation, user input, output review, errors, timeouts."""

from workflows.engine import (
    HumanReview,
    OnError,
    OnReject,
    OnTimeout,
    Step,
    StepInput,
    StepOutput,
    UserInputField,
    Workflow,
)


def fetch_customers(step_input: StepInput):
    return {"customers": 3, "source": step_input.input or "crm"}


def export_customers(step_input: StepInput):
    return f"exported {step_input.previous_step_content['customers']} customers"


data_export = Workflow(
    name="data_export",
    description="Export customer data after a reviewer confirms it may leave the system.",
    steps=[
        Step(name="fetch", executor=fetch_customers),
        Step(
            name="export",
            executor=export_customers,
            description="Sends customer records to the data warehouse.",
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Export customer records to the warehouse?",
                on_reject=OnReject.cancel,
                timeout=3600,
                on_timeout=OnTimeout.cancel,
            ),
        ),
    ],
)


def plan_trip(step_input: StepInput):
    prefs = step_input.user_input
    return f"{prefs['days']} days in {prefs['city']} ({'budget' if prefs.get('budget') else 'comfort'})"


trip_planner = Workflow(
    name="trip_planner",
    description="Plans a trip from a traveller's preferences.",
    steps=[
        Step(
            name="plan",
            executor=plan_trip,
            human_review=HumanReview(
                requires_user_input=True,
                user_input_message="Where and how long?",
                user_input_schema=[
                    UserInputField(name="city", field_type="str", description="Destination city", max_length=100),
                    UserInputField(
                        name="days", field_type="int", description="Number of days", min_value=1, max_value=365
                    ),
                    UserInputField(name="budget", field_type="bool", required=False, description="Travel cheaply"),
                    UserInputField(name="pace", field_type="str", required=False, allowed_values=["slow", "fast"]),
                ],
            ),
        ),
    ],
)


def draft_post(step_input: StepInput):
    feedback = step_input.rejection_feedback
    topic = step_input.input or "our release"
    return f"Draft about {topic}" + (f" (revised: {feedback})" if feedback else "")


def publish_post(step_input: StepInput):
    return f"published: {step_input.previous_step_content}"


blog_post = Workflow(
    name="blog_post",
    description="Drafts a post; an editor approves, edits or sends it back with feedback.",
    steps=[
        Step(
            name="draft",
            executor=draft_post,
            human_review=HumanReview(
                requires_output_review=True,
                output_review_message="Is this draft ready to publish?",
                on_reject=OnReject.retry,
                max_retries=3,
            ),
        ),
        Step(name="publish", executor=publish_post),
    ],
)


def flaky_sync(step_input: StepInput):
    attempts = step_input.session_state.setdefault("sync_attempts", 0) + 1
    step_input.session_state["sync_attempts"] = attempts
    if attempts < 2:
        raise ConnectionError("inventory service unavailable")
    return StepOutput(content=f"synced after {attempts} attempts")


inventory_sync = Workflow(
    name="inventory_sync",
    description="Syncs inventory; when the service fails, a person decides to retry or skip.",
    steps=[
        Step(name="sync", executor=flaky_sync, human_review=HumanReview(on_error=OnError.pause, max_retries=5)),
        Step(name="report", executor=lambda si: f"report: {si.previous_step_content}"),
    ],
)
