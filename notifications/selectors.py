"""Reads of the notifications app: who hears of a requirement, through which channels, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.db.models import Q, QuerySet
from django.utils import timezone

from workflows import teams
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
    if not requirement.is_assigned:
        return User.objects.filter(id__in=_resolvers(), is_active=True)
    rule = Q(assigned_requirements=requirement) | Q(groups__assigned_requirements=requirement)
    return User.objects.filter(id__in=User.objects.filter(rule).values("id"), is_active=True)


def _resolvers() -> list:
    """The ids of the holders of ``workflows.resolve_requirement`` (directly, through a group, or
    as superusers). Asked for every unassigned requirement created, inside the run's transaction:
    one statement written once, where the ORM's compilation of the same query took longer than
    the rest of a confirmation cycle."""
    User = get_user_model()
    conn = connections[router.db_for_read(User)]
    if conn.alias not in _RESOLVERS_SQL:
        q = conn.ops.quote_name
        user_perms = User.user_permissions.through._meta
        user_groups = User.groups.through._meta
        group_perms = Group.permissions.through._meta
        perm = (
            f"SELECT p.{q('id')} FROM {q(Permission._meta.db_table)} p"
            f" JOIN {q(ContentType._meta.db_table)} ct ON ct.{q('id')} = p.{q('content_type_id')}"
            f" WHERE ct.{q('app_label')} = %s AND p.{q('codename')} = %s"
        )
        _RESOLVERS_SQL[conn.alias] = (
            f"SELECT {q(User._meta.pk.column)} FROM {q(User._meta.db_table)} WHERE {q('is_superuser')}"
            f" UNION SELECT {q(user_perms.get_field('user').column)} FROM {q(user_perms.db_table)}"
            f" WHERE {q(user_perms.get_field('permission').column)} IN ({perm})"
            f" UNION SELECT ug.{q(user_groups.get_field('user').column)} FROM {q(user_groups.db_table)} ug"
            f" JOIN {q(group_perms.db_table)} gp"
            f" ON gp.{q(group_perms.get_field('group').column)} = ug.{q(user_groups.get_field('group').column)}"
            f" WHERE gp.{q(group_perms.get_field('permission').column)} IN ({perm})"
        )
    with conn.cursor() as cursor:
        cursor.execute(_RESOLVERS_SQL[conn.alias], ["workflows", "resolve_requirement"] * 2)
        return [row[0] for row in cursor.fetchall()]


_RESOLVERS_SQL: dict[str, str] = {}


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
    if requirement.is_assigned:
        deciders = deciders_of(requirement)
    else:
        resolvers = _resolvers()
        if not resolvers:
            return []  # nobody may decide it: no query for preferences either
        deciders = get_user_model().objects.filter(id__in=resolvers, is_active=True)
    if requirement.separation_of_duties:  # the run's starter and earlier deciders may not decide it
        deciders = deciders.exclude(username__in=teams.excluded_deciders(requirement, requirement.run))
    users = (
        deciders.select_related("notification_preference")
        .prefetch_related("groups__notification_preference")
        .order_by("id")
    )
    return [(user, channels_of(user)) for user in users]


def recipients_for(requirement: Requirement) -> list:
    """Who gets a mail about ``requirement``: its deciders who have an address and want mail."""
    return [user for user, channels in deciders_with_channels(requirement) if channels.email and user.email]


def group_chats_for(requirement: Requirement) -> list[str]:
    """The chat webhooks of the groups ``requirement`` is assigned to (those that want chat)."""
    if not requirement.is_assigned:
        return []  # assigned to no group
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
