"""Assignment typos are loud: the system check names unknown users and groups of every loaded
workflow, and a requirement created with them says so on its pages (it stays restricted)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core import checks
from django.core.management import call_command
from django.urls import reverse

from workflows import selectors
from workflows.checks import check_workflow_assignments
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


def _assigned(name: str, **assignment) -> Workflow:
    return Workflow(
        name=name,
        steps=[
            Step(name="prepare", executor=lambda si: 1),
            Step(
                name="pay",
                executor=lambda si: 2,
                human_review=HumanReview(requires_confirmation=True, **assignment),
            ),
        ],
    )


def test_the_system_check_names_unknown_groups_and_users(temp_workflow, make_user):
    Group.objects.create(name="finance")
    make_user("fred")
    temp_workflow(_assigned("typo_flow", groups=["finanse", "finance"], assignees=["nobody", "fred"]))

    found = [(w.id, w.msg) for w in check_workflow_assignments() if "typo_flow" in w.msg]

    assert found == [
        ("workflows.W001", "Workflow 'typo_flow', step 'pay' (1): assigned to unknown group 'finanse'"),
        ("workflows.W002", "Workflow 'typo_flow', step 'pay' (1): assigned to unknown user 'nobody'"),
    ]
    assert all(isinstance(w, checks.Warning) for w in check_workflow_assignments())


def test_the_check_is_part_of_manage_py_check(temp_workflow, capsys):
    temp_workflow(_assigned("typo_flow_cmd", groups=["finanse"]))
    call_command("check")
    assert "assigned to unknown group 'finanse'" in capsys.readouterr().err


def test_known_names_raise_nothing(temp_workflow, make_user):
    Group.objects.create(name="finance")
    make_user("fred")
    temp_workflow(_assigned("typo_free", groups=["finance"], assignees=["fred"]))
    assert not [w for w in check_workflow_assignments() if "typo_free" in w.msg]


def test_a_requirement_keeps_its_unknown_names_and_shows_them(temp_workflow, make_user, client):
    Group.objects.create(name="finance")
    clerk = make_user("clara", "resolve_requirement", groups=("finance",))
    rita = make_user("rita", "resolve_requirement")
    wf = temp_workflow(_assigned("typo_run", groups=["finanse", "finance"], assignees=["nobody"]))

    out = wf.run("x")
    req = Requirement.objects.get(run_id=out.run_id)

    assert req.unknown_assignment == {"assignees": ["nobody"], "groups": ["finanse"]}
    assert req.unknown_assignment_labels == ["assigned to unknown group finanse", "assigned to unknown user nobody"]
    # Restricted to the names that exist: never opened to everyone by a typo.
    assert req.is_assigned and list(req.groups.values_list("name", flat=True)) == ["finance"]
    assert selectors.user_may_resolve(clerk, req) and not selectors.user_may_resolve(rita, req)

    client.force_login(clerk)
    decide = client.get(reverse("approvals:decide", args=[req.id])).content.decode()
    assert "Assigned to unknown group finanse; assigned to unknown user nobody" in decide

    staff = make_user("sam", "view_workflowrun", "view_requirement")
    client.force_login(staff)
    page = client.get(reverse("workflows:run-detail", args=[out.run_id])).content.decode()
    assert "Assigned to unknown group finanse; assigned to unknown user nobody" in page


def test_a_requirement_whose_names_all_exist_has_no_warning(temp_workflow, make_user):
    make_user("fred")
    wf = temp_workflow(_assigned("typo_none", assignees=["fred"]))
    req = Requirement.objects.get(run_id=wf.run("x").run_id)
    assert req.unknown_assignment == {} and req.unknown_assignment_labels == []
