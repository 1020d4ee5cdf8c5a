"""Teams deciding together, through the services: claims, take-overs, reassignment, delegation,
separation of duties, quorums, comments, priority and due dates (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from workflows import registry, services, teams
from workflows.engine import ConflictError, HumanReview, Step, ValidationError, Workflow
from workflows.engine.errors import DefinitionError
from workflows.models import AssignmentChange, Delegation, Requirement, RequirementApproval, WorkflowRun

pytestmark = pytest.mark.django_db


def _confirm(name, **review):
    return Workflow(
        name=name,
        steps=[
            Step(
                name="pay",
                executor=lambda si: f"paid {si.input}",
                human_review=HumanReview(requires_confirmation=True, **review),
            )
        ],
    )


plain = registry.register(_confirm("test_team_plain", priority="high", due_in=3600))
four_eyes = registry.register(_confirm("test_team_four_eyes", separation_of_duties=True))
quorum = registry.register(_confirm("test_team_quorum", approvals_required=2))
per_group = registry.register(_confirm("test_team_groups", approvals_per_group={"legal": 1, "finance": 1}))
two_gates = registry.register(
    Workflow(
        name="test_team_two_gates",
        steps=[
            Step(name="draft", executor=lambda si: "draft", human_review=HumanReview(requires_confirmation=True)),
            Step(
                name="sign",
                executor=lambda si: "signed",
                human_review=HumanReview(requires_confirmation=True, separation_of_duties=True),
            ),
        ],
    )
)
assigned_to_carol = registry.register(_confirm("test_team_carol", assignees=["carol"]))


def _pending(workflow, user=None, input="x"):
    out = workflow.run(input, user=user)
    return Requirement.objects.get(run_id=out.run_id, status=Requirement.Status.PENDING)


@pytest.fixture
def decide(sync_worker, django_capture_on_commit_callbacks):
    """Resolve, then run what the decision scheduled on commit (the continuation), as a worker would."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            row = services.requirement_resolve(**kwargs)
        return row

    return run


@pytest.fixture
def alice(make_user):
    return make_user("alice", "resolve_requirement", "start_run")


@pytest.fixture
def bob(make_user):
    return make_user("bob", "resolve_requirement")


# -- definition -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"approvals_required": 0},
        {"approvals_required": True},
        {"approvals_per_group": {"legal": 0}},
        {"approvals_per_group": ["legal"]},
        {"priority": "asap"},
        {"due_in": -5},
        {"separation_of_duties": "yes"},
    ],
)
def test_team_options_are_checked_when_the_definition_is_built(options):
    with pytest.raises(DefinitionError):
        HumanReview(requires_confirmation=True, **options)


def test_priority_and_due_date_travel_to_the_row(alice):
    before = timezone.now()
    req = _pending(plain, alice)
    assert req.priority == "high" and req.priority_rank == 3 - 1
    assert before + timedelta(seconds=3590) < req.due_at < timezone.now() + timedelta(seconds=3610)
    assert req.due_sort == req.due_at and req.timeout_at is None


# -- claim, release, take over --------------------------------------------------------------------
def test_claim_keeps_others_from_deciding(alice, bob):
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    with pytest.raises(teams.TeamConflict) as exc:
        services.requirement_claim(requirement_id=req.id, user=bob)
    assert exc.value.code == "claimed"
    with pytest.raises(teams.TeamConflict) as exc:
        services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")
    assert exc.value.code == "claimed"
    req.refresh_from_db()
    assert req.is_pending and req.claimed_by == alice
    services.requirement_resolve(requirement_id=req.id, user=alice, action="confirm")
    req.refresh_from_db()
    assert req.status == Requirement.Status.RESOLVED


def test_release_by_the_claimer_only_then_anyone_decides(alice, bob):
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    with pytest.raises(teams.TeamConflict):
        services.requirement_release(requirement_id=req.id, user=bob)
    services.requirement_release(requirement_id=req.id, user=alice)
    with pytest.raises(teams.TeamConflict) as exc:
        services.requirement_release(requirement_id=req.id, user=alice)
    assert exc.value.code == "not_claimed"
    services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")
    actions = list(AssignmentChange.objects.filter(requirement=req).values_list("action", "actor_name"))
    assert actions == [("claim", "alice"), ("release", "alice")]


def test_take_over_needs_a_reason_and_records_it(alice, bob):
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    with pytest.raises(ValidationError):
        services.requirement_take_over(requirement_id=req.id, user=bob, reason="  ")
    services.requirement_take_over(requirement_id=req.id, user=bob, reason="alice is on leave")
    change = AssignmentChange.objects.get(requirement=req, action="take_over")
    assert (change.actor_name, change.from_label, change.to_label, change.note) == (
        "bob",
        "alice",
        "bob",
        "alice is on leave",
    )
    services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")


def test_override_permission_decides_a_claimed_requirement(alice, make_user):
    boss = make_user("boss", "resolve_requirement", "override_claim")
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    services.requirement_resolve(requirement_id=req.id, user=boss, action="confirm")
    assert Requirement.objects.get(id=req.id).resolved_by_name == "boss"


def test_idle_claims_expire_in_the_sweeper(alice, settings):
    settings.HITL_CLAIM_IDLE_SECONDS = 600
    req = _pending(plain, alice)
    start = timezone.now()
    services.requirement_claim(requirement_id=req.id, user=alice, now=start)
    assert services.claims_expire_idle(now=start + timedelta(seconds=599)) == 0
    assert services.sweep(now=start + timedelta(seconds=601))["claims_released"] == 1
    req.refresh_from_db()
    assert req.claimed_by is None
    assert AssignmentChange.objects.filter(requirement=req, action="claim_expired", actor_name="system").exists()


def test_claims_never_expire_without_the_setting(alice, settings):
    settings.HITL_CLAIM_IDLE_SECONDS = 0
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice, now=timezone.now() - timedelta(days=30))
    assert services.claims_expire_idle() == 0


def test_claim_of_a_decided_or_invisible_requirement_is_refused(alice, outsider):
    req = _pending(plain, alice)
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_claim(requirement_id=req.id, user=outsider)
    services.requirement_resolve(requirement_id=req.id, user=alice, action="confirm")
    with pytest.raises(ConflictError):
        services.requirement_claim(requirement_id=req.id, user=alice)


# -- reassign and delegate ------------------------------------------------------------------------
def test_reassign_by_the_claimer_to_a_user_with_a_note(alice, bob, make_user):
    req = _pending(plain, alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    services.requirement_reassign(requirement_id=req.id, user=alice, to_user=bob, note="bob knows this client")
    req.refresh_from_db()
    assert list(req.assignees.all()) == [bob] and req.is_assigned and req.claimed_by is None
    change = AssignmentChange.objects.get(requirement=req, action="reassign")
    assert (change.from_label, change.to_label, change.note) == (
        "anyone who may resolve",
        "bob",
        "bob knows this client",
    )
    # alice no longer sees it (it is bob's now)
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_claim(requirement_id=req.id, user=alice)


def test_reassign_is_refused_to_bystanders_and_to_users_who_may_not_resolve(alice, bob, outsider):
    req = _pending(plain, alice)
    with pytest.raises(PermissionError):  # unclaimed, unassigned: only a manager reassigns
        services.requirement_reassign(requirement_id=req.id, user=bob, to_user=alice)
    services.requirement_claim(requirement_id=req.id, user=alice)
    with pytest.raises(ValidationError):
        services.requirement_reassign(requirement_id=req.id, user=alice, to_user=outsider)
    with pytest.raises(ValidationError):
        services.requirement_reassign(requirement_id=req.id, user=alice)
    assert not Requirement.objects.get(id=req.id).is_assigned


def test_a_four_eyes_requirement_is_not_handed_to_its_starter(alice, bob):
    req = _pending(four_eyes, alice)  # alice started the run: she may never decide it
    services.requirement_claim(requirement_id=req.id, user=bob)
    with pytest.raises(ValidationError) as refused:
        services.requirement_reassign(requirement_id=req.id, user=bob, to_user=alice)
    assert "separation of duties" in str(refused.value)
    row = Requirement.objects.get(id=req.id)
    assert row.claimed_by == bob and not row.assignees.exists()


def test_a_manager_reassigns_to_a_group(alice, bob, make_user):
    manager = make_user("mona", "resolve_requirement", "reassign_requirement")
    legal = Group.objects.create(name="legal")
    req = _pending(plain, alice)
    services.requirement_reassign(requirement_id=req.id, user=manager, to_group=legal, note="contract")
    req.refresh_from_db()
    assert list(req.groups.all()) == [legal] and not req.assignees.exists()
    bob.groups.add(legal)
    services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")


def test_delegation_hands_existing_and_new_items_while_in_force(alice, bob, make_user):
    carol = make_user("carol", "resolve_requirement")
    existing = _pending(assigned_to_carol, alice)
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_claim(requirement_id=existing.id, user=bob)
    now = timezone.now()
    Delegation.objects.create(
        user=carol, delegate=bob, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)
    )
    new = _pending(assigned_to_carol, alice)
    services.requirement_resolve(requirement_id=existing.id, user=bob, action="confirm")
    services.requirement_resolve(requirement_id=new.id, user=bob, action="confirm")


def test_an_ended_delegation_hands_nothing(alice, bob, make_user):
    carol = make_user("carol", "resolve_requirement")
    now = timezone.now()
    Delegation.objects.create(
        user=carol, delegate=bob, starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1)
    )
    req = _pending(assigned_to_carol, alice)
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")


def test_delegation_to_someone_who_may_not_resolve_is_invalid(make_user, outsider):
    from django.core.exceptions import ValidationError as DjangoValidationError

    carol = make_user("carol", "resolve_requirement")
    delegation = Delegation(user=carol, delegate=outsider, ends_at=timezone.now() + timedelta(days=1))
    with pytest.raises(DjangoValidationError):
        delegation.full_clean()


# -- separation of duties -------------------------------------------------------------------------
def test_the_runs_starter_may_not_decide_under_separation_of_duties(alice, bob):
    req = _pending(four_eyes, alice)
    with pytest.raises(teams.SeparationOfDutiesError, match="you started this run"):
        services.requirement_resolve(requirement_id=req.id, user=alice, action="confirm")
    assert Requirement.objects.get(id=req.id).is_pending
    services.requirement_resolve(requirement_id=req.id, user=bob, action="confirm")


def test_the_decider_of_an_earlier_step_may_not_decide_the_next(alice, bob, make_user, decide):
    carol = make_user("carol", "resolve_requirement")
    first = _pending(two_gates, alice)
    decide(requirement_id=first.id, user=bob, action="confirm")
    second = Requirement.objects.get(run_id=first.run_id, status=Requirement.Status.PENDING)
    assert second.step_name == "sign"
    with pytest.raises(teams.SeparationOfDutiesError, match="earlier step"):
        decide(requirement_id=second.id, user=bob, action="confirm")
    decide(requirement_id=second.id, user=carol, action="confirm")


def test_separation_of_duties_holds_in_the_python_api(alice, bob):
    out = four_eyes.run("x", user=alice)
    out.active_requirements[0].confirm()
    with pytest.raises(teams.SeparationOfDutiesError):
        four_eyes.continue_run(out, user=alice)
    assert Requirement.objects.get(run_id=out.run_id).is_pending
    out.active_requirements[0].confirm()
    done = four_eyes.continue_run(out, user=bob)
    assert WorkflowRun.objects.get(id=done.run_id).status == WorkflowRun.Status.COMPLETED


# -- quorum ---------------------------------------------------------------------------------------
def test_quorum_of_two_stays_pending_after_the_first_approval(alice, bob, make_user, decide):
    carol = make_user("carol", "resolve_requirement")
    req = _pending(quorum, alice)
    row = decide(requirement_id=req.id, user=bob, action="confirm")
    assert row.is_pending and teams.approvals_needed(row) == 1
    with pytest.raises(teams.TeamConflict) as exc:
        decide(requirement_id=req.id, user=bob, action="confirm")
    assert exc.value.code == "already_approved"
    assert WorkflowRun.objects.get(id=req.run_id).status == WorkflowRun.Status.PAUSED
    row = decide(requirement_id=req.id, user=carol, action="confirm")
    assert row.status == Requirement.Status.RESOLVED and row.resolved_by_name == "carol"
    run = WorkflowRun.objects.get(id=req.run_id)
    assert run.status == WorkflowRun.Status.COMPLETED and run.content == "paid x"
    assert list(RequirementApproval.objects.filter(requirement=req).values_list("username", flat=True)) == [
        "bob",
        "carol",
    ]


def test_a_claimer_who_approves_a_quorum_lets_the_others_approve(alice, bob, make_user, decide):
    carol = make_user("carol", "resolve_requirement")
    req = _pending(quorum, alice)
    services.requirement_claim(requirement_id=req.id, user=bob)
    with pytest.raises(teams.TeamConflict):
        decide(requirement_id=req.id, user=carol, action="confirm")
    row = decide(requirement_id=req.id, user=bob, action="confirm")
    assert row.is_pending and row.claimed_by is None
    assert decide(requirement_id=req.id, user=carol, action="confirm").status == Requirement.Status.RESOLVED


def test_any_reject_rejects_a_quorum(alice, bob, make_user, decide):
    carol = make_user("carol", "resolve_requirement")
    req = _pending(quorum, alice)
    decide(requirement_id=req.id, user=bob, action="confirm")
    row = decide(requirement_id=req.id, user=carol, action="reject", data={"feedback": "no"})
    assert row.status == Requirement.Status.RESOLVED and row.action == "reject"
    assert WorkflowRun.objects.get(id=req.run_id).status != WorkflowRun.Status.PAUSED


def test_per_group_quorum_needs_one_of_each_group(alice, make_user, decide):
    lea = make_user("lea", "resolve_requirement", groups=("legal",))
    leo = make_user("leo", "resolve_requirement", groups=("legal",))
    fin = make_user("fin", "resolve_requirement", groups=("finance",))
    req = _pending(per_group, alice)
    assert teams.approvals_needed(req) == 2
    decide(requirement_id=req.id, user=lea, action="confirm")
    row = decide(requirement_id=req.id, user=leo, action="confirm")
    assert row.is_pending and teams.approvals_needed(row) == 1  # still nobody from finance
    row = decide(requirement_id=req.id, user=fin, action="confirm")
    assert row.status == Requirement.Status.RESOLVED


def test_a_timeout_applies_to_the_whole_quorum(alice, bob, temp_workflow, decide):
    wf = temp_workflow(_confirm("test_team_quorum_timed", approvals_required=2, timeout=60, on_timeout="skip"))
    req = _pending(wf, alice)
    decide(requirement_id=req.id, user=bob, action="confirm")
    services.requirements_expire_due(now=timezone.now() + timedelta(seconds=61))
    req.refresh_from_db()
    assert req.status == Requirement.Status.EXPIRED


def test_quorum_in_the_python_api_is_refused_plainly(alice):
    out = quorum.run("x", user=alice)
    out.active_requirements[0].confirm()
    with pytest.raises(teams.TeamConflict) as exc:
        quorum.continue_run(out, user=alice)
    assert exc.value.code == "quorum"


# -- comments -------------------------------------------------------------------------------------
def test_comments_are_plain_text_and_never_decide(alice, bob, outsider):
    req = _pending(plain, alice)
    comment = services.requirement_comment_add(requirement_id=req.id, user=bob, text="  <b>check the IBAN</b> ")
    assert comment.text == "<b>check the IBAN</b>" and comment.author_name == "bob"
    assert Requirement.objects.get(id=req.id).is_pending
    with pytest.raises(ValidationError):
        services.requirement_comment_add(requirement_id=req.id, user=bob, text="   ")
    with pytest.raises(ValidationError):
        services.requirement_comment_add(requirement_id=req.id, user=bob, text="x" * 5001)
    with pytest.raises(Requirement.DoesNotExist):
        services.requirement_comment_add(requirement_id=req.id, user=outsider, text="hi")
