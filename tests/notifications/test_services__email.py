"""Mail through Django's mail framework to a real SMTP server (aiosmtpd on 127.0.0.1): to the
people who may decide, with an address, who did not opt out; plain text and HTML; an absolute link."""

from __future__ import annotations

import pytest

from notifications import services
from notifications.models import Delivery, Preference
from tests.factories import GroupFactory, UserFactory
from workflows import registry
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


def gated(name: str, **review) -> Workflow:
    return Workflow(
        name=name,
        steps=[
            Step(
                name="publish",
                executor=lambda step_input: "published",
                human_review=HumanReview(
                    requires_confirmation=True, confirmation_message="Publish the report?", **review
                ),
            )
        ],
    )


def test_the_mail_says_what_is_asked_where_until_when_with_a_link(smtp_server, published, mailed_reviewer):
    out = registry.get("data_export").run("crm")
    req = Requirement.objects.get(run_id=out.run_id)
    (delivery,) = Delivery.objects.filter(channel="email")
    assert (delivery.target, delivery.recipient, delivery.requirement) == ("rita@example.com", mailed_reviewer, req)

    assert services.deliveries_send() == 1
    ((to, message),) = smtp_server.messages
    assert to == ["rita@example.com"]
    assert "data_export" in message["Subject"] and "export" in message["Subject"]
    assert message["X-HITL-Delivery"] == str(delivery.id)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://hitl.example.com/inbox/{req.id}/"
    for body in (text, html):
        assert "Export customer records to the warehouse?" in body
        assert "data_export" in body and link in body
        assert req.timeout_at.strftime("%Y-%m-%d") in body
    assert f'<a href="{link}">' in html
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_assigned_requirements_mail_assignees_and_group_members_only(smtp_server, published, make_user, temp_workflow):
    bob = make_user("bob", email="bob@example.com")
    lee = make_user("lee", email="lee@example.com", groups=("legal",))
    make_user("rita", "resolve_requirement", email="rita@example.com")  # not assigned: not told
    make_user("noemail", groups=("legal",))  # no address
    quiet = make_user("quiet", email="quiet@example.com", groups=("legal",))
    Preference.objects.create(user=quiet, email=False)  # opted out
    UserFactory(username="gone", email="gone@example.com", groups=["legal"], is_active=False)
    temp_workflow(gated("test_notify_assigned", assignees=("bob",), groups=("legal",)))
    registry.get("test_notify_assigned").run("x")

    assert services.deliveries_send() == 2
    assert sorted(to[0] for to, _ in smtp_server.messages) == [bob.email, lee.email]


def test_unassigned_requirements_mail_holders_of_the_resolve_permission(
    smtp_server, published, make_user, temp_workflow
):
    make_user("rita", "resolve_requirement", email="rita@example.com")
    GroupFactory(name="reviewers", permissions=["resolve_requirement"])
    make_user("gina", email="gina@example.com", groups=("reviewers",))
    UserFactory(username="root", email="root@example.com", superuser=True)
    make_user("otto", email="otto@example.com")  # no permission
    make_user("bea", "resolve_requirement", email="bea@example.com", groups=("reviewers",))  # mailed once
    UserFactory(username="gone", permissions=["resolve_requirement"], email="gone@example.com", is_active=False)
    temp_workflow(gated("test_notify_open"))
    registry.get("test_notify_open").run("x")

    services.deliveries_send()
    assert sorted(to[0] for to, _ in smtp_server.messages) == [
        "bea@example.com",
        "gina@example.com",
        "rita@example.com",
        "root@example.com",
    ]


def test_a_requirement_decided_before_its_mail_left_is_not_mailed(smtp_server, published, mailed_reviewer, sent_runs):
    from workflows import services as workflow_services

    out = registry.get("data_export").run("crm")
    req = Requirement.objects.get(run_id=out.run_id)
    workflow_services.requirement_resolve(requirement_id=req.id, user=mailed_reviewer, action="confirm")
    assert services.deliveries_send() == 0
    assert smtp_server.messages == []
    assert Delivery.objects.get(channel="email").status == "skipped"


def test_an_unreachable_mail_server_is_retried(published, mailed_reviewer, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    registry.get("data_export").run("crm")
    assert services.deliveries_send() == 0
    delivery = Delivery.objects.get(channel="email")
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "refused" in delivery.last_error.lower() or "error" in delivery.last_error.lower()
