"""Reads of the notifications app: who hears of a requirement, through which channels, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.utils import timezone

from workflows.models import Requirement

from .models import GroupPreference, Preference


@dataclass(frozen=True)
class Channels:
    """A person's effective choices (their own preferences, else their groups' defaults)."""

    email: bool = True
    chat: bool = False
    browser: bool = True
    chat_webhook_url: str = ""
    quiet_from: time | None = None
    quiet_to: time | None = None
    digest: bool = False


def deciders_of(requirement: Requirement) -> QuerySet:
    """Active users who may resolve ``requirement``: its assignees and the members of its groups,
    or, when it is assigned to nobody, the holders of ``workflows.resolve_requirement``
    (directly, through a group, or as superusers). Staff who may only look are not told."""
    User = get_user_model()
    if requirement.is_assigned:
        rule = Q(assigned_requirements=requirement) | Q(groups__assigned_requirements=requirement)
    else:
        perm = Permission.objects.filter(content_type__app_label="workflows", codename="resolve_requirement")
        rule = Q(user_permissions__in=perm) | Q(groups__permissions__in=perm) | Q(is_superuser=True)
    return User.objects.filter(id__in=User.objects.filter(rule).values("id"), is_active=True)


def channels_of(user) -> Channels:
    """``user``'s channels: their preferences; without any, their groups' defaults (a channel is
    on if one of their groups turns it on); without those, mail and browser on."""
    try:
        pref = user.notification_preference
    except Preference.DoesNotExist:
        pref = None
    if pref is not None:
        return Channels(
            email=pref.email,
            chat=pref.chat,
            browser=pref.browser,
            chat_webhook_url=pref.chat_webhook_url,
            quiet_from=pref.quiet_from,
            quiet_to=pref.quiet_to,
            digest=pref.digest,
        )
    if "groups" in getattr(user, "_prefetched_objects_cache", {}):  # many users at once (mails)
        defaults = [g.notification_preference for g in user.groups.all() if _has_preference(g)]
    else:  # one user (a page): one query, whatever the number of groups
        defaults = list(GroupPreference.objects.filter(group__user=user))
    if not defaults:
        return Channels()
    return Channels(
        email=any(d.email for d in defaults),
        chat=False,  # a group's chat goes to the group's webhook, not to each member
        browser=any(d.browser for d in defaults),
    )


def _has_preference(group) -> bool:
    try:
        return group.notification_preference is not None
    except GroupPreference.DoesNotExist:
        return False


def deciders_with_channels(requirement: Requirement) -> list[tuple[object, Channels]]:
    users = (
        deciders_of(requirement)
        .select_related("notification_preference")
        .prefetch_related("groups__notification_preference")
        .order_by("id")
    )
    return [(user, channels_of(user)) for user in users]


def recipients_for(requirement: Requirement) -> list:
    """Who gets a mail about ``requirement``: its deciders who have an address and want mail."""
    return [user for user, channels in deciders_with_channels(requirement) if channels.email and user.email]


def group_chats_for(requirement: Requirement) -> list[str]:
    """The chat webhooks of the groups ``requirement`` is assigned to (those that want chat)."""
    prefs = GroupPreference.objects.filter(group__in=requirement.groups.all(), chat=True).exclude(chat_webhook_url="")
    return sorted({p.chat_webhook_url for p in prefs})


def quiet_until(channels: Channels, now: datetime) -> datetime:
    """When a message to this person may leave: ``now``, or the end of their quiet hours (in the
    site's time zone; a span past midnight, such as 22:00 to 07:00, is one span)."""
    start, end = channels.quiet_from, channels.quiet_to
    if start is None or end is None or start == end:
        return now
    local = timezone.localtime(now)
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return now
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until
