"""Run events. Named like agno's; every event is also stored (as a RunEvent row with Django)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

WORKFLOW_STARTED = "WorkflowStarted"
WORKFLOW_PAUSED = "WorkflowPaused"
WORKFLOW_CONTINUED = "WorkflowContinued"
WORKFLOW_COMPLETED = "WorkflowCompleted"
WORKFLOW_CANCELLED = "WorkflowCancelled"
WORKFLOW_ERROR = "WorkflowError"
STEP_STARTED = "StepStarted"
STEP_COMPLETED = "StepCompleted"
STEP_SKIPPED = "StepSkipped"
STEP_ERROR = "StepError"
STEP_PAUSED = "StepPaused"
STEP_CONTINUED = "StepContinued"
STEP_OUTPUT_REVIEW = "StepOutputReview"
ROUTER_PAUSED = "RouterPaused"
LOOP_ITERATION_REVIEW = "LoopIterationReview"
STEP_EXECUTOR_PAUSED = "StepExecutorPaused"
STEP_EXECUTOR_CONTINUED = "StepExecutorContinued"
REQUIREMENT_TIMED_OUT = "RequirementTimedOut"
# Internal bookkeeping events: they carry checkpoint data and are stored, never handed to users.
CHECKPOINT = "Checkpoint"
# The last event of an execution: handed out once the execution's end is stored.
END_EVENTS = frozenset({WORKFLOW_PAUSED, WORKFLOW_COMPLETED, WORKFLOW_CANCELLED, WORKFLOW_ERROR})

PAUSE_EVENT_FOR_KIND = {
    "confirmation": STEP_PAUSED,
    "user_input": STEP_PAUSED,
    "output_review": STEP_OUTPUT_REVIEW,
    "route_selection": ROUTER_PAUSED,
    "iteration_review": LOOP_ITERATION_REVIEW,
    "error": STEP_PAUSED,  # StepError already recorded the failure
    "executor_confirmation": STEP_EXECUTOR_PAUSED,
    "executor_user_input": STEP_EXECUTOR_PAUSED,
    "external_execution": STEP_EXECUTOR_PAUSED,
}


@dataclass
class Event:
    """Something that happened in a run. ``memo`` carries checkpoint data (see state.RunState)."""

    event: str
    run_id: str
    path: str | None = None
    step_name: str | None = None
    data: dict = field(default_factory=dict)
    memo: dict | None = None
    created_at: datetime | None = None
    seq: int = 0

    @property
    def content(self) -> Any:
        return self.data.get("content")

    def to_dict(self) -> dict:
        return {
            "event": self.event,
            "run_id": self.run_id,
            "path": self.path,
            "step_name": self.step_name,
            "data": self.data,
            "seq": self.seq,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
