"""The mails: what is asked, in which workflow, until when, and a link to the decision page."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workflows.models import Requirement

from . import links
from .models import Delivery

# What a mail says first, by why it is sent (a new requirement says nothing first).
LEADS = {"requirement.reminder": "Reminder: ", "requirement.escalated": "Escalated to you: "}


def absolute_url(path: str) -> str:
    """A link for a message read outside the site: HITL_BASE_URL + the path."""
    return settings.HITL_BASE_URL.rstrip("/") + path


def requirement_mail(delivery: Delivery, requirement: Requirement | None) -> EmailMultiAlternatives | None:
    """The mail of a delivery about ``requirement``; None when there is nothing to say any more
    (gone, or no longer pending: decided meanwhile) or nobody to say it to."""
    user = delivery.recipient
    if requirement is None or not requirement.is_pending or user is None or not user.is_active or not user.email:
        return None
    context = {
        "user": user,
        "requirement": requirement,
        "kind": requirement.get_kind_display(),
        "deadline": requirement.timeout_at,
        "link": absolute_url(reverse("approvals:decide", args=[requirement.id])),
    }
    action = links.action_url(user=user, requirement=requirement)  # bound to this person and version
    if action is not None:
        context["action_link"], context["action_label"] = absolute_url(action), links.LINK_ACTIONS[requirement.kind][1]
    context["lead"] = LEADS.get(delivery.event, "")
    subject = f"[{requirement.workflow_name}] {context['lead']}{context['kind']} waits for you: {requirement.step_name}"
    message = EmailMultiAlternatives(
        subject=subject[:200],
        body=render_to_string("notifications/requirement_mail.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"X-HITL-Delivery": str(delivery.id)},
    )
    message.attach_alternative(render_to_string("notifications/requirement_mail.html", context), "text/html")
    return message


def chat_payload(requirement: Requirement | None) -> dict | None:
    """A Slack-compatible incoming-webhook message (``text`` for notifications, ``blocks`` for
    the message) about ``requirement``; None when it is no longer pending."""
    if requirement is None or not requirement.is_pending:
        return None
    link = absolute_url(reverse("approvals:decide", args=[requirement.id]))
    kind = requirement.get_kind_display()
    deadline = f"{timezone.localtime(requirement.timeout_at):%Y-%m-%d %H:%M %Z}" if requirement.timeout_at else "none"
    summary = f"*{kind}* waits in *{requirement.workflow_name}*, step *{requirement.step_name}*"
    if requirement.message:
        summary += f"\n{requirement.message}"
    return {
        "text": f"{kind} waits in {requirement.workflow_name}, step {requirement.step_name}: {link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Deadline: {deadline}"}]},
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link}],
            },
        ],
    }


DIGEST_ITEMS = 50
OVERDUE_AFTER = timedelta(days=1)


def digest_mail(delivery: Delivery, *, now) -> EmailMultiAlternatives | None:
    """The daily digest: what waits for the person, and what has waited more than a day."""
    from workflows.selectors import requirements_pending_for

    user = delivery.recipient
    if user is None or not user.is_active or not user.email:
        return None
    pending = requirements_pending_for(user).order_by("created_at")
    waiting = list(pending[:DIGEST_ITEMS])
    if not waiting:
        return None  # nothing waits: no mail
    items = [
        {
            "req": r,
            "link": absolute_url(reverse("approvals:decide", args=[r.id])),
            "overdue": r.created_at < now - OVERDUE_AFTER,
        }
        for r in waiting
    ]
    context = {
        "user": user,
        "items": items,
        "count": pending.count(),
        "overdue": sum(1 for i in items if i["overdue"]),
        "inbox": absolute_url(reverse("approvals:inbox")),
    }
    message = EmailMultiAlternatives(
        subject=f"{context['count']} waiting for you ({context['overdue']} for more than a day)",
        body=render_to_string("notifications/digest_mail.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"X-HITL-Delivery": str(delivery.id)},
    )
    message.attach_alternative(render_to_string("notifications/digest_mail.html", context), "text/html")
    return message
