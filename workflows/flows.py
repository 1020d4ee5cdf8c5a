"""Registers the example workflows shipped in workflows/definitions/."""

from workflows.definitions.agents import support_agent  # noqa: F401
from workflows.definitions.containers import (  # noqa: F401
    copy_refiner,
    onboarding,
    refund_decision,
    release_checks,
    research_router,
)
from workflows.definitions.steps_hitl import blog_post, data_export, inventory_sync, trip_planner  # noqa: F401
from workflows.definitions.teams import payment_release, purchase_approval  # noqa: F401
