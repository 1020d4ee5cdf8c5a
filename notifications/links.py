"""Decide-from-the-message links: ``/inbox/<id>/act/<token>/``.

The token is signed (``django.core.signing``, a salt of its own) and carries the user, the
requirement, its version and the action; it expires after HITL_ACTION_LINK_SECONDS and works
once (a ``UsedActionToken`` row is written with the decision). Opening it shows a page asking to
confirm; only the POST of that page (with its CSRF token) decides, so a link scanner or a mail
preview that fetches the URL never does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from workflows import selectors, teams
from workflows.models import Requirement

from .models import UsedActionToken

SALT = "notifications.action-link"
# The kinds a link may decide, the action it takes and its button's label.
LINK_ACTIONS = {
    Requirement.Kind.CONFIRMATION: ("confirm", "Confirm"),
    Requirement.Kind.OUTPUT_REVIEW: ("confirm", "Approve"),
}


class LinkRefused(Exception):
    """The link cannot decide; ``reason`` names why (the page says it), ``status`` is the HTTP code."""

    def __init__(self, reason: str, status: int, requirement: Requirement | None = None, message: str = ""):
        super().__init__(reason)
        self.reason, self.status, self.requirement, self.message = reason, status, requirement, message


@dataclass(frozen=True)
class Link:
    requirement: Requirement
    version: int
    action: str
    label: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def action_url(*, user, requirement: Requirement) -> str | None:
    """The path of a link deciding ``requirement`` as ``user`` at its current version (None for
    kinds a link may not decide)."""
    if requirement.kind not in LINK_ACTIONS:
        return None
    action, _ = LINK_ACTIONS[requirement.kind]
    token = signing.dumps(
        {"u": user.pk, "r": str(requirement.id), "v": requirement.version, "a": action}, salt=SALT, compress=True
    )
    return reverse("notifications:act", args=[requirement.id, token])


def refuse_by_team_rules(requirement: Requirement, user) -> None:
    """``LinkRefused("team")`` (with the rule's words) when a claim by someone else, separation
    of duties or the user's own earlier approval of a quorum keeps them from deciding."""
    try:
        teams.refuse_if_claimed_by_other(requirement, user)
        teams.refuse_separation(requirement, requirement.run, user.get_username())
        if teams.is_quorum(requirement):
            teams.refuse_if_approved(requirement, user.get_username())
    except teams.SeparationOfDutiesError as exc:
        raise LinkRefused("team", 403, requirement, str(exc)) from None
    except teams.TeamConflict as exc:
        raise LinkRefused("team", 409, requirement, str(exc)) from None


def check(token: str, *, user, requirement_id) -> Link:
    """The link's decision if ``user`` may make it now; else ``LinkRefused``."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.HITL_ACTION_LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkRefused("expired", 410) from None
    except signing.BadSignature:
        raise LinkRefused("invalid", 400) from None
    if not isinstance(data, dict) or data.get("r") != str(requirement_id):
        raise LinkRefused("invalid", 400)
    if data.get("u") != user.pk:
        raise LinkRefused("other_user", 403)
    requirement = Requirement.objects.filter(id=requirement_id).first()
    if requirement is None:
        raise LinkRefused("invalid", 400)
    if UsedActionToken.objects.filter(digest=token_digest(token)).exists():
        raise LinkRefused("used", 410, requirement)
    if requirement.kind not in LINK_ACTIONS or data.get("a") != LINK_ACTIONS[requirement.kind][0]:
        raise LinkRefused("invalid", 400)
    if not requirement.is_pending or requirement.version != data.get("v"):
        raise LinkRefused("stale", 410, requirement)
    if not selectors.user_may_resolve(user, requirement):
        raise LinkRefused("not_yours", 403, requirement)
    refuse_by_team_rules(requirement, user)
    action, label = LINK_ACTIONS[requirement.kind]
    return Link(requirement=requirement, version=data["v"], action=action, label=label)
