"""Fixtures of the reviewer-app tests: a signed-in reviewer, sessions for the sockets, paused runs
of the example workflows."""

from __future__ import annotations

import pytest

from tests.factories import GroupFactory
from workflows import registry
from workflows.models import Requirement


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
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def pending(workflow_name: str, input="x", **kwargs) -> Requirement:
    """Run an example workflow (synchronously) and return its newest pending requirement."""
    output = registry.get(workflow_name).run(input, **kwargs)
    return Requirement.objects.filter(run_id=output.run_id, status="PENDING").order_by("-created_at").first()


@pytest.fixture
def finance_group(db):
    return GroupFactory(name="finance")
