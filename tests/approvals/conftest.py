"""Fixtures of the reviewer-app tests: users, paused runs of the example workflows, a recording
dispatch backend (decisions schedule continuations on commit; tests assert what was sent)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from workflows import registry
from workflows.models import Requirement
from workflows.runtime import dispatch


def grant(user, *codenames: str):
    perms = Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
    user.user_permissions.add(*perms)
    return user


def signed_in_session(user):
    """A saved session that signs ``user`` in, as the login view leaves it (sockets check it)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session


@pytest.fixture
def sent_runs():
    """Run ids the services scheduled (after commit), instead of a worker running them."""
    sent: list[str] = []
    dispatch.set_backend(sent.append)
    yield sent
    dispatch.set_backend(None)


@pytest.fixture
def reviewer(django_user_model, sent_runs):
    user = django_user_model.objects.create_user("rita")
    return grant(user, "resolve_requirement")


@pytest.fixture
def outsider(django_user_model):
    """Logged in, but without the resolve permission or any assignment."""
    return django_user_model.objects.create_user("olga")


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def pending(workflow_name: str, input="x", **kwargs) -> Requirement:
    """Run an example workflow (synchronously) and return its newest pending requirement."""
    output = registry.get(workflow_name).run(input, **kwargs)
    return Requirement.objects.filter(run_id=output.run_id, status="PENDING").order_by("-created_at").first()


@pytest.fixture
def finance_group(db):
    return Group.objects.create(name="finance")
