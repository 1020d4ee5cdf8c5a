"""Factories of the rows tests build themselves: people (users and groups with permissions) and,
for tests of what is read from stored rows, runs and requirements written directly.

Permissions are given as codenames of the workflows app (every permission the app checks lives
there); an unknown codename is an error, not a silently missing permission.
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from factory.django import DjangoModelFactory

from workflows.models import Requirement, WorkflowRun

# Every user's password unless a test gives one: browser tests sign in with it, and API tokens
# need a usable password.
PASSWORD = "correct-horse-battery"


def workflow_permissions(*codenames: str) -> list[Permission]:
    found = list(Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames))
    missing = set(codenames) - {p.codename for p in found}
    if missing:
        raise ValueError(f"no such workflows permission: {', '.join(sorted(missing))}")
    return found


class GroupFactory(DjangoModelFactory):
    """``GroupFactory(name="finance", permissions=["resolve_requirement"])``; a group of that
    name is reused."""

    class Meta:
        model = Group
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"group{n}")

    @factory.post_generation
    def permissions(group, create, codenames, **kwargs):
        if codenames:
            group.permissions.add(*workflow_permissions(*codenames))


class UserFactory(DjangoModelFactory):
    """``UserFactory(username="rita", permissions=["resolve_requirement"], groups=["legal"])``.

    ``password=None`` makes a user without a usable password (single sign-on); ``superuser=True``
    one as ``createsuperuser`` makes. Staff status alone grants no permission."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    class Params:
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    username = factory.Sequence(lambda n: f"user{n}")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class._default_manager.create_user(*args, **kwargs)  # hashes the password

    @factory.post_generation
    def permissions(user, create, codenames, **kwargs):
        if codenames:
            user.user_permissions.add(*workflow_permissions(*codenames))

    @factory.post_generation
    def groups(user, create, groups, **kwargs):
        for group in groups or ():
            user.groups.add(group if isinstance(group, Group) else GroupFactory(name=group))


class WorkflowRunFactory(DjangoModelFactory):
    """A run row written directly (no workflow executes): for reads of stored runs."""

    class Meta:
        model = WorkflowRun

    workflow_name = "data_export"


class RequirementFactory(DjangoModelFactory):
    """A pending confirmation of its own path in a run of the same workflow (made if not given)."""

    class Meta:
        model = Requirement

    run = factory.SubFactory(WorkflowRunFactory)
    workflow_name = factory.SelfAttribute("run.workflow_name")
    key = factory.Sequence(lambda n: f"k{n}")
    path = factory.SelfAttribute("key")
    step_name = "review"
    kind = Requirement.Kind.CONFIRMATION
