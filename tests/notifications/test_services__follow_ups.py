"""Reminders and escalation, fired by the sweeper with a controllable clock: each once per step,
from state kept in rows; escalation adds assignees, tells them and leaves a trace in the run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications import services
from notifications.models import Delivery, FollowUp
from workflows import registry, selectors
from workflows import services as workflow_services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, RunEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return {
        "rita": make_user("rita", email="rita@example.com"),
        "lee": make_user("lee", email="lee@example.com", groups=("legal",)),
        "bob": make_user("bob", email="bob@example.com"),
    }


@pytest.fixture
def req(people, temp_workflow, published, sent_runs) -> Requirement:
    review = HumanReview(
        requires_confirmation=True,
        assignees=("rita",),
        timeout=3600,
        remind_before=600,
        remind_every=1200,
        escalate=[(1800, "group:legal"), (2400, "user:bob")],
    )
    temp_workflow(
        Workflow(name="test_follow_up", steps=[Step(name="sign", executor=lambda si: "ok", human_review=review)])
    )
    out = registry.get("test_follow_up").run("x")
    return Requirement.objects.get(run_id=out.run_id)


def at(req, seconds: int):
    return req.created_at + timedelta(seconds=seconds)


def mails(event: str) -> list[str]:
    return sorted(Delivery.objects.filter(channel="email", event=event).values_list("target", flat=True))


def test_the_schedule_is_kept_in_a_row(req):
    follow_up = FollowUp.objects.get(requirement=req)
    assert follow_up.next_reminder_at == at(req, 1200)
    assert follow_up.next_escalation_at == at(req, 1800)
    assert follow_up.due_at == at(req, 1200)


def test_reminders_and_escalation_fire_once_each_in_order(req, people):
    assert services.follow_ups_due(now=at(req, 1199)) == {"reminded": 0, "escalated": 0}
    assert mails("requirement.created") == ["rita@example.com"]

    assert services.follow_ups_due(now=at(req, 1200)) == {"reminded": 1, "escalated": 0}
    assert services.follow_ups_due(now=at(req, 1200)) == {"reminded": 0, "escalated": 0}  # once
    assert mails("requirement.reminder") == ["rita@example.com"]

    assert services.follow_ups_due(now=at(req, 1800)) == {"reminded": 0, "escalated": 1}
    assert services.follow_ups_due(now=at(req, 1801)) == {"reminded": 0, "escalated": 0}
    assert mails("requirement.escalated") == ["lee@example.com"]
    assert selectors.requirements_pending_for(people["lee"]).filter(id=req.id).exists()
    event = RunEvent.objects.get(run_id=req.run_id, event="RequirementAssigned")
    assert event.data["added"] == ["group:legal"] and event.data["reason"] == "escalation"

    # 2400: the next reminder tick and bob's escalation step, together
    assert services.follow_ups_due(now=at(req, 2400)) == {"reminded": 1, "escalated": 1}
    assert mails("requirement.escalated") == ["bob@example.com", "lee@example.com"]
    # the reminder goes to everyone who may decide by then, bob included (escalated just before)
    assert mails("requirement.reminder") == [
        "bob@example.com",
        "lee@example.com",
        "rita@example.com",
        "rita@example.com",
    ]
    assert selectors.requirements_pending_for(people["bob"]).filter(id=req.id).exists()

    # 3000 = ten minutes before the deadline; the 3600 tick is the deadline itself: no reminder
    assert services.follow_ups_due(now=at(req, 3000)) == {"reminded": 1, "escalated": 0}
    assert not FollowUp.objects.filter(requirement=req).exists()  # nothing more to come
    assert services.follow_ups_due(now=at(req, 3599)) == {"reminded": 0, "escalated": 0}


def test_a_missed_stretch_fires_each_escalation_once_and_one_reminder(req):
    # The sweeper was down for an hour (a restart): the rows say what is still due.
    assert services.follow_ups_due(now=at(req, 3500)) == {"reminded": 1, "escalated": 2}
    assert services.follow_ups_due(now=at(req, 3500)) == {"reminded": 0, "escalated": 0}


def test_a_decided_requirement_is_neither_reminded_nor_escalated(req, people):
    workflow_services.requirement_resolve(requirement_id=req.id, user=people["rita"], action="confirm")
    assert services.follow_ups_due(now=at(req, 3500)) == {"reminded": 0, "escalated": 0}
    assert not FollowUp.objects.exists()
    assert not Delivery.objects.filter(event__in=["requirement.reminder", "requirement.escalated"]).exists()


def test_the_sweep_runs_them(req):
    done = workflow_services.sweep(now=at(req, 1200))
    assert done["reminded"] == 1


def test_the_reminder_mail_says_it_is_one(req, smtp_server):
    services.follow_ups_due(now=at(req, 1200))
    services.deliveries_send(now=at(req, 1200))
    subjects = sorted(message["Subject"] for _, message in smtp_server.messages)
    assert any(s.startswith("[test_follow_up] Reminder: Confirmation waits for you") for s in subjects)
