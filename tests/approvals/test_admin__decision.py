"""The admin shows the audit trail read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import Decision
from tests.factories import UserFactory
from workflows import services

from .conftest import pending

pytestmark = pytest.mark.django_db


def test_decisions_are_listed_and_read_only(client, sent_runs, django_capture_on_commit_callbacks):
    admin = UserFactory(username="root", superuser=True)
    req = pending("data_export")
    with django_capture_on_commit_callbacks(execute=True):
        services.requirement_resolve(requirement_id=req.id, user=admin, action="confirm", version=req.version)
    decision = Decision.objects.get()
    client.force_login(admin)
    listing = client.get(reverse("admin:approvals_decision_changelist"))
    assert listing.status_code == 200 and "root" in listing.content.decode()
    detail = client.get(reverse("admin:approvals_decision_change", args=[decision.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:approvals_decision_add")).status_code == 403
    assert (
        client.post(reverse("admin:approvals_decision_delete", args=[decision.pk]), {"post": "yes"}).status_code == 403
    )
    assert Decision.objects.count() == 1
