"""Reads of the notifications app: who hears of a requirement."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet

from workflows.models import Requirement


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


def recipients_for(requirement: Requirement) -> QuerySet:
    """Who gets a mail about ``requirement``: its deciders who have an address and did not opt out."""
    return deciders_of(requirement).exclude(email="").exclude(notification_preference__email=False).order_by("id")
