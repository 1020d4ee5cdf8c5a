"""The admin of teams: reassign requirements through the service (a form first), delegations
(checked; a non-superuser manages only their own), and the read-only assignment history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from workflows.models import AssignmentChange, Delegation, Requirement

pytestmark = pytest.mark.django_db


def test_reassign_action_asks_then_goes_through_the_service(admin_client, paused_run, make_user):
    bob = make_user("bob", "resolve_requirement")
    req = Requirement.objects.get(run=paused_run, status="PENDING")
    url = reverse("admin:workflows_requirement_changelist")
    page = admin_client.post(url, {"action": "reassign_requirements", "_selected_action": [req.id]})
    assert (
        page.status_code == 200 and "Reassign" in page.text and Requirement.objects.get(id=req.id).is_assigned is False
    )
    response = admin_client.post(
        url,
        {
            "action": "reassign_requirements",
            "_selected_action": [req.id],
            "apply": "1",
            "user": bob.pk,
            "note": "yours",
        },
    )
    assert response.status_code == 302
    req.refresh_from_db()
    assert list(req.assignees.all()) == [bob]
    change = AssignmentChange.objects.get(requirement=req)
    assert (change.action, change.actor_name, change.to_label, change.note) == ("reassign", "admin", "bob", "yours")


def test_reassign_action_refuses_both_or_neither(admin_client, paused_run, make_user):
    bob = make_user("bob", "resolve_requirement")
    group = Group.objects.create(name="legal")
    req = Requirement.objects.get(run=paused_run, status="PENDING")
    url = reverse("admin:workflows_requirement_changelist")
    page = admin_client.post(
        url,
        {
            "action": "reassign_requirements",
            "_selected_action": [req.id],
            "apply": "1",
            "group": group.pk,
            "user": bob.pk,
        },
    )
    assert "one of them" in page.text and not AssignmentChange.objects.exists()


def test_delegations_are_checked_and_own_only_for_non_superusers(make_user):
    carol = make_user(
        "carol", "resolve_requirement", "add_delegation", "change_delegation", "view_delegation", staff=True
    )
    bob = make_user("bob", "resolve_requirement")
    otto = make_user("otto")
    client = Client()
    client.force_login(carol)
    url = reverse("admin:workflows_delegation_add")
    now = timezone.now()
    data = {
        "delegate": otto.pk,
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "note": "holiday",
    }
    page = client.post(url, data)
    assert page.status_code == 200 and "must hold the permission" in page.text
    page = client.post(url, {**data, "delegate": carol.pk})
    assert page.status_code == 200 and not Delegation.objects.exists()  # not to oneself
    response = client.post(url, {**data, "delegate": bob.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Delegation.objects.get().user == carol
    Delegation.objects.create(user=bob, delegate=carol, ends_at=now + timedelta(days=1))
    listed = client.get(reverse("admin:workflows_delegation_changelist")).text
    assert listed.count("holiday") == 1 and "0 of 1" not in listed
