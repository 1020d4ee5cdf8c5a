"""HumanReview(remind_before=, remind_every=, escalate=): checked when the workflow is defined."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import HumanReview, Step, Workflow
from workflows.engine.errors import DefinitionError


def noop(step_input):
    return "ok"


def gated(**review) -> Workflow:
    return Workflow(
        name="reminded",
        steps=[Step(name="s", executor=noop, human_review=HumanReview(requires_confirmation=True, **review))],
    )


def test_valid_options_are_kept_and_escalation_is_ordered():
    review = HumanReview(
        requires_confirmation=True,
        timeout=3600,
        remind_before=timedelta(minutes=10),
        remind_every=1200,
        escalate=[(2400, "user:bob"), (1800, "group:legal")],
    )
    assert (review.remind_before, review.remind_every) == (600.0, 1200.0)
    assert review.escalate == ((1800.0, "group:legal"), (2400.0, "user:bob"))
    assert gated(timeout=3600, remind_before=600, escalate=[(60, "group:legal")]).steps


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"remind_before": 600}, "needs a timeout"),
        ({"remind_every": 0}, "remind_every must be a positive number"),
        ({"remind_every": "soon"}, "remind_every must be a positive number"),
        ({"escalate": [(60, "legal")]}, "'group:<name>' or 'user:<name>'"),
        ({"escalate": [(60, "team:legal")]}, "'group:<name>' or 'user:<name>'"),
        ({"escalate": [(60, "user:")]}, "'group:<name>' or 'user:<name>'"),
        ({"escalate": [(-5, "user:bob")]}, "escalate delay must be a positive number"),
        ({"escalate": [60]}, "escalate items are"),
    ],
)
def test_bad_options_raise_at_definition_time(options, message):
    with pytest.raises(DefinitionError, match=message):
        gated(**options)


def test_reminders_on_a_step_nobody_waits_for_raise():
    with pytest.raises(DefinitionError, match="remind_every is set but nothing on it waits"):
        Workflow(name="x", steps=[Step(name="s", executor=noop, human_review=HumanReview(remind_every=60))])


def test_unset_options_leave_the_fingerprint_as_it_was():
    review = HumanReview(requires_confirmation=True).fingerprint()
    assert not {"remind_before", "remind_every", "escalate"} & set(review)
    assert "escalate" in HumanReview(requires_confirmation=True, escalate=[(60, "user:bob")]).fingerprint()
