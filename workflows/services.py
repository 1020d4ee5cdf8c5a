"""State changes of runs and requirements. Every write goes through here.

Each service locks what it changes (``select_for_update``), re-reads and re-checks the status,
changes it, and sends side effects (continuations, broadcasts) only after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows import registry
from workflows.engine import persistence
from workflows.engine.errors import (
    ConflictError,
    DecisionError,
    DefinitionChangedError,
    ExpiredError,
    RunNotFoundError,
    RunStateError,
    ValidationError,
)
from workflows.engine.jsonvalues import check_json
from workflows.engine.requirements import clean_decision
from workflows.engine.state import RunState
from workflows.runtime import broadcast, dispatch, hooks

from . import selectors, store, teams
from .models import AssignmentChange, Requirement, RequirementApproval, RequirementComment, StartKey, WorkflowRun
from .store import (
    CancelRequested,
    DjangoStore,
    append_event,
    lock_run,
    requeue_delay,
    requirement_to_engine,
    resolution_recorded,
    save_requirement,
    save_timeout,
    sql,
    state_from_row,
)

log = logging.getLogger("workflows")

# Called inside the resolving transaction of every resolution (see ``store.resolution_hooks``):
# the approvals app records its audit row here, in the same transaction as the decision.
resolution_hooks = store.resolution_hooks


def _username(user) -> str | None:
    return user.get_username() if user is not None and user.is_authenticated else None


# -- runs -----------------------------------------------------------------------------------------
START_KEYS_KEPT = timedelta(days=1)


def run_start(
    *, workflow_name: str, input=None, additional_data: dict | None = None, user=None, key: str = ""
) -> WorkflowRun:
    """Create a run of a registered workflow; a worker executes it after commit. ``key``: a start
    form's one-time key; a second start with the same key (and user) returns the run the first
    one started, whatever it asks for."""
    workflow = registry.get(workflow_name)  # WorkflowNotFound
    if additional_data is not None and not isinstance(additional_data, dict):
        raise ValidationError({"additional_data": "Must be an object."})
    check_json(input, "input")
    check_json(additional_data or {}, "additional_data")
    state = RunState.new(
        workflow_name=workflow.name,
        fingerprint=workflow.fingerprint,
        input=input,
        additional_data=additional_data,
        created_by=_username(user),
    )
    with transaction.atomic():
        if key:
            key = f"{getattr(user, 'pk', '')}:{key}"
            now = timezone.now()
            try:
                with transaction.atomic():  # a concurrent start with the key waits here, then fails
                    StartKey.objects.create(key=key, run_id=state.run_id, created_at=now)
            except IntegrityError:
                return WorkflowRun.objects.get(id=StartKey.objects.get(key=key).run_id)
            StartKey.objects.filter(created_at__lt=now - START_KEYS_KEPT).delete()
        DjangoStore().insert(state)
        dispatch.advance_on_commit(state.run_id)
        broadcast.run_changed(state.run_id)
    return WorkflowRun.objects.get(id=state.run_id)


RERUNNABLE_STATUSES = (WorkflowRun.Status.COMPLETED, WorkflowRun.Status.ERROR, WorkflowRun.Status.CANCELLED)
_SAME = object()


def run_rerun(*, run_id, user=None, input=_SAME, additional_data=_SAME) -> WorkflowRun:
    """Start a new run of a finished, failed or cancelled run's workflow, with its input and
    additional data unless given (edited), linked to it by ``rerun_of``."""
    original = WorkflowRun.objects.filter(id=run_id).only("id", "workflow_name", "status", "input", "additional_data")
    original = original.first()
    if original is None:
        raise RunNotFoundError(f"No run with id {run_id}")
    if original.status not in RERUNNABLE_STATUSES:
        raise RunStateError(
            f"Only a finished, failed or cancelled run can be rerun; this one is {original.status.lower()}."
        )
    with transaction.atomic():
        run = run_start(
            workflow_name=original.workflow_name,
            input=original.input if input is _SAME else input,
            additional_data=original.additional_data if additional_data is _SAME else additional_data,
            user=user,
        )
        lock_run(run.id)  # no worker has it before commit; the lock keeps append_event's contract
        WorkflowRun.objects.filter(id=run.id).update(rerun_of=original.id)
        append_event(run.id, "RerunOf", {"run_id": str(original.id)})
    run.rerun_of_id = original.id
    return run


# A run decided while it executed goes on in the same worker; this bounds how often in a row.
MAX_ADVANCES = 20


def run_advance(*, run_id) -> str | None:
    """Execute the run until it pauses or ends (the worker's job). Returns the status it left the
    run in, or None when there was nothing to do for this worker.

    Safe to call any number of times, concurrently too: a run another live worker holds, or that
    has nothing to do, is left alone (a duplicate or late continuation is a no-op).
    """
    store = DjangoStore()
    # The common continuation is claimed at once (one statement); else the run is looked up first.
    claimed = store.claim_ahead(run_id, now=timezone.now())
    if claimed is not None:
        run_id, workflow_name = claimed.run_id, claimed.workflow_name  # the id as the store keys it
    else:
        try:
            found = sql.select(WorkflowRun, ("workflow_name", "status"), id=run_id)
        except (ValueError, DjangoValidationError):
            found = None
        if not found:
            log.info("cannot advance run %s: no such run", run_id)
            return None
        workflow_name, status = found[0]
        if status not in WorkflowRun.ACTIVE_STATUSES:
            return None
    try:
        workflow = registry.get(workflow_name)
    except registry.WorkflowNotFound as exc:
        # Left queued: the sweeper sends it again, to a worker that knows the workflow.
        log.warning("cannot advance run %s: %s in this worker", run_id, exc)
        store.release()  # a run claimed ahead is given back
        return None
    try:
        for _ in range(MAX_ADVANCES):
            store.more_work = False
            workflow.advance(str(run_id), store=store)
            if not store.more_work:  # else a decision landed while it ran: go on with it
                break
    except CancelRequested as exc:
        log.info("%s", exc)
        return None
    except (ConflictError, RunStateError, RunNotFoundError) as exc:
        log.info("run %s not advanced: %s", run_id, exc)
        return None
    except DefinitionChangedError as exc:
        _definition_changed(run_id, workflow, exc)
        return None
    finally:
        store.release()  # the store told open pages about what it wrote
    return store.finished.status if store.finished else None


def _definition_changed(run_id, workflow, exc: DefinitionChangedError) -> None:
    """The run stays as it was (paused), with the reason on it, where operators look. Nothing
    sends it again until a worker runs another definition (``runs_retry_definition_errors``)."""
    log.warning("%s", exc)
    with transaction.atomic():
        lock_run(run_id)
        WorkflowRun.objects.filter(id=run_id).update(error=str(exc), lease_until=None)
        append_event(run_id, "DefinitionChanged", {"error": str(exc), "fingerprint": workflow.fingerprint})
        broadcast.run_changed(run_id)


MAX_CANCEL_REASON = 1000


def run_cancel(*, run_id, user=None, reason: str = "") -> WorkflowRun:
    """Cancel a run. A paused or pending run stops now, with its pending requirements; a running
    one after its current step (nothing after it starts). A run whose worker died stops now.
    ``reason`` (why, in the canceller's words) is kept on the run and in its cancel event."""
    who = _username(user) or persistence.SYSTEM_ACTOR
    now = timezone.now()
    reason = (reason or "").strip()[:MAX_CANCEL_REASON]
    with transaction.atomic():
        row = lock_run(run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}")
        if not row.is_active:
            raise RunStateError(f"Cannot cancel a run that is {row.status.lower()}.")
        if reason:
            row.cancel_reason = reason
            row.save(update_fields=["cancel_reason", "updated_at"])
        if row.status == WorkflowRun.Status.RUNNING and row.lease_until is not None and row.lease_until > now:
            row.cancel_requested_by = who  # its worker stops at its next checkpoint
            row.save(update_fields=["cancel_requested_by", "updated_at"])
            broadcast.run_changed(row.id)
        else:
            DjangoStore().cancel(row, who=who, now=now)
    return row


# -- requirements ---------------------------------------------------------------------------------
def requirement_resolve(
    *,
    requirement_id,
    user,
    action: str,
    data: dict | None = None,
    version: int | None = None,
    now: datetime | None = None,
) -> Requirement:
    """Apply one person's decision, exactly once.

    Compare-and-set on status + version in the transaction that schedules the continuation.
    Raises ``Requirement.DoesNotExist`` (unknown or not visible to ``user``), ``ConflictError``
    (already decided or stale version; ``WorkflowUnavailableError``: the run's workflow is not
    registered in this deployment), ``ExpiredError`` (past its deadline: the timeout applies
    instead), ``DecisionError`` / ``ValidationError`` (bad action or data). Nothing changes then.
    """
    now = now or timezone.now()
    expired = False
    with transaction.atomic():
        try:
            run_id = Requirement.objects.values_list("run_id", flat=True).get(id=requirement_id)
            # The run row first, then the requirement: the lock order of every writer (no deadlocks),
            # and a worker finishing this run sees this decision (or we see the run PAUSED).
            run = lock_run(run_id)
            row = Requirement.objects.select_for_update().get(
                id=requirement_id, id__in=selectors.requirements_visible_to(user).values("id")
            )
        except (Requirement.DoesNotExist, ValueError, DjangoValidationError):
            raise Requirement.DoesNotExist("No such requirement.") from None
        if not registry.is_registered(run.workflow_name):
            # Nothing here could continue the run: the decision would be accepted and go nowhere.
            raise registry.WorkflowUnavailableError(run.workflow_name)
        req = requirement_to_engine(row)
        if persistence.is_due(req, now):
            save_timeout(req, now)  # the timeout is kept (and audited); the late decision is not
            _after_change(run, [row.id], now)
            expired = True
        else:
            persistence.check_decidable(req, version=version, now=now)
            resolution = clean_decision(req, action, data)
            teams.refuse_if_claimed_by_other(row, user)
            teams.refuse_separation(row, run, _username(user))
            if (
                teams.is_quorum(row)
                and resolution.get("action") != "reject"
                and not _quorum_completes(row, run, user, resolution, now)
            ):
                return row  # still PENDING: more approvals are needed
            shown = dict(row.payload or {})
            persistence.apply_decision(req, resolution, _username(user), now)
            save_requirement(req, user_id=user.id)
            row.status, row.resolution, row.resolved_at, row.version = (
                req.status,
                req.resolution,
                req.resolved_at,
                req.version,
            )
            row.resolved_by, row.resolved_by_name = user, req.resolved_by or ""
            resolution_recorded(row, user=user, shown=shown)
            _after_change(run, [row.id], now)
    if expired:  # after commit: the expiry is kept, the late decision is refused
        raise ExpiredError("This requirement expired at its deadline; the timeout decided it.")
    return row


def _quorum_completes(row: Requirement, run: WorkflowRun, user, resolution: dict, now: datetime) -> bool:
    """Record ``user``'s approval (rows locked by the caller); True when it completes the quorum,
    so the caller resolves the requirement with it: the engine sees one resolution, the last one."""
    username = _username(user)
    approvals = list(row.approvals.all())
    teams.refuse_if_approved(row, username, approvals)
    approval = RequirementApproval.objects.create(
        requirement=row,
        user=user,
        username=username,
        groups=teams.approver_groups(row, user),
        action=resolution.get("action", ""),
        data=resolution.get("data"),
        created_at=now,
    )
    approvals.append(approval)
    needed = teams.approvals_needed(row, approvals)
    _record_change(row, user, AssignmentChange.Action.APPROVE, note=f"{needed} more needed" if needed else "", now=now)
    if needed:
        if row.claimed_by_id == user.pk:  # the claimer's part is done: the others approve now
            _claim_write(row, None, now)
            _record_change(row, user, AssignmentChange.Action.RELEASE, from_label=username, note="approved", now=now)
        broadcast.requirements_changed(run.id, [row.id])
        return False
    return True


def _record_change(row: Requirement, user, action: str, *, from_label="", to_label="", note="", now=None) -> None:
    AssignmentChange.objects.create(
        requirement=row,
        run_id=row.run_id,
        action=action,
        actor=user if user is not None and user.is_authenticated else None,
        actor_name=_username(user) or persistence.SYSTEM_ACTOR,
        from_label=from_label[:300],
        to_label=to_label[:300],
        note=note,
        created_at=now or timezone.now(),
    )


def _lock_pending(requirement_id, user) -> tuple[WorkflowRun, Requirement]:
    """Lock the run, then the requirement (the order of every writer), visible to ``user`` and
    still pending. ``Requirement.DoesNotExist``: unknown or not visible; ``ConflictError``: decided."""
    try:
        run_id = Requirement.objects.values_list("run_id", flat=True).get(id=requirement_id)
        run = lock_run(run_id)
        row = (
            Requirement.objects.select_for_update(of=("self",))
            .select_related("claimed_by")
            .get(id=requirement_id, id__in=selectors.requirements_visible_to(user).values("id"))
        )
    except (Requirement.DoesNotExist, ValueError, DjangoValidationError):
        raise Requirement.DoesNotExist("No such requirement.") from None
    if not row.is_pending:
        raise ConflictError(f"This requirement is already {row.status.lower()}.")
    return run, row


def _claim_write(row: Requirement, user, now) -> None:
    row.claimed_by, row.claimed_at = user, now if user is not None else None
    sql.update(
        Requirement, {"claimed_by": user.pk if user is not None else None, "claimed_at": row.claimed_at}, id=row.id
    )


def requirement_claim(*, requirement_id, user, now: datetime | None = None) -> Requirement:
    """Take a requirement so colleagues leave it alone: only the claimer decides it (or whoever
    takes it over). ``TeamConflict`` code ``claimed`` when another person holds it; claiming
    one's own claim again refreshes it (a claim expires after ``HITL_CLAIM_IDLE_SECONDS``)."""
    now = now or timezone.now()
    with transaction.atomic():
        run, row = _lock_pending(requirement_id, user)
        if row.claimed_by_id is not None and row.claimed_by_id != user.pk:
            raise teams.TeamConflict(f"Already claimed by {row.claimed_by.get_username()}.", code="claimed")
        fresh = row.claimed_by_id is None
        _claim_write(row, user, now)
        if fresh:
            _record_change(row, user, AssignmentChange.Action.CLAIM, to_label=_username(user), now=now)
        broadcast.requirements_changed(run.id, [row.id])
    return row


def requirement_release(*, requirement_id, user, now: datetime | None = None) -> Requirement:
    """Give a claimed requirement back: by its claimer, or by a holder of ``override_claim``."""
    now = now or timezone.now()
    with transaction.atomic():
        run, row = _lock_pending(requirement_id, user)
        if row.claimed_by_id is None:
            raise teams.TeamConflict("Nobody has claimed this requirement.", code="not_claimed")
        if row.claimed_by_id != user.pk and not user.has_perm(teams.OVERRIDE_PERM):
            raise teams.TeamConflict(
                f"Claimed by {row.claimed_by.get_username()}: only they release it.", code="claimed"
            )
        previous = row.claimed_by.get_username() if row.claimed_by else ""
        _claim_write(row, None, now)
        _record_change(row, user, AssignmentChange.Action.RELEASE, from_label=previous, now=now)
        broadcast.requirements_changed(run.id, [row.id])
    return row


def requirement_take_over(*, requirement_id, user, reason: str, now: datetime | None = None) -> Requirement:
    """Claim a requirement someone else holds, with a reason (recorded): e.g. its claimer is away."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you take it over."})
    if len(reason) > 1000:
        raise ValidationError({"reason": "At most 1000 characters."})
    with transaction.atomic():
        run, row = _lock_pending(requirement_id, user)
        previous = row.claimed_by.get_username() if row.claimed_by else ""
        _claim_write(row, user, now)
        _record_change(
            row,
            user,
            AssignmentChange.Action.TAKE_OVER,
            from_label=previous,
            to_label=_username(user),
            note=reason,
            now=now,
        )
        broadcast.requirements_changed(run.id, [row.id])
    return row


def requirement_reassign(
    *, requirement_id, user, to_user=None, to_group=None, note: str = "", now: datetime | None = None
) -> Requirement:
    """Hand a requirement to another user or group, with a note. Allowed to whoever may resolve
    it and holds it (its claimer, or a named assignee when nobody claimed it), and to holders of
    ``reassign_requirement``. The new user must be allowed to resolve requirements at all (the
    permission, or a superuser): a reassignment never opens an item to someone who could not
    resolve it. The claim ends; the assignment is replaced."""
    now = now or timezone.now()
    note = (note or "").strip()
    if (to_user is None) == (to_group is None):
        raise ValidationError({"user": "Give a user or a group (one of them)."})
    if len(note) > 1000:
        raise ValidationError({"note": "At most 1000 characters."})
    if to_user is not None and not (
        to_user.is_active and (to_user.is_superuser or to_user.has_perm(selectors.RESOLVE_PERM))
    ):
        raise ValidationError({"user": f"{to_user.get_username()} may not resolve requirements."})
    with transaction.atomic():
        run, row = _lock_pending(requirement_id, user)
        if not user.has_perm(teams.REASSIGN_PERM):
            holder = row.claimed_by_id == user.pk or (
                row.claimed_by_id is None and row.assignees.filter(pk=user.pk).exists()
            )
            if not holder:
                raise PermissionError(
                    "Only its claimer (or, unclaimed, a named assignee) or a holder of "
                    "workflows.reassign_requirement may reassign it."
                )
        if to_user is not None and row.separation_of_duties:
            try:  # handed to someone who may never decide it, it would be stranded
                teams.refuse_separation(row, run, to_user.get_username())
            except teams.SeparationOfDutiesError:
                raise ValidationError(
                    {"user": f"{to_user.get_username()} may not decide this (separation of duties)."}
                ) from None
        before = teams.assignment_label(row)
        row.assignees.set([to_user] if to_user is not None else [])
        row.groups.set([to_group] if to_group is not None else [])
        row.claimed_by, row.claimed_at = None, None
        sql.update(
            Requirement,
            {"is_assigned": True, "claimed_by": None, "claimed_at": None, "unknown_assignment": {}},
            id=row.id,
        )
        row.is_assigned = True
        after = to_user.get_username() if to_user is not None else f"group {to_group.name}"
        _record_change(
            row, user, AssignmentChange.Action.REASSIGN, from_label=before, to_label=after, note=note, now=now
        )
        broadcast.requirements_changed(run.id, [row.id])
    return row


def requirement_comment_add(*, requirement_id, user, text: str, now: datetime | None = None) -> RequirementComment:
    """A plain-text remark on a requirement (pending or not) that whoever may see it reads; it
    never decides anything."""
    now = now or timezone.now()
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write something."})
    if len(text) > RequirementComment.MAX_LENGTH:
        raise ValidationError({"text": f"At most {RequirementComment.MAX_LENGTH} characters."})
    row = selectors.requirements_inspectable_by(user).filter(id=requirement_id).only("id", "run_id").first()
    if row is None:
        raise Requirement.DoesNotExist("No such requirement.")
    with transaction.atomic():
        comment = RequirementComment.objects.create(
            requirement_id=row.id, author=user, author_name=_username(user), text=text, created_at=now
        )
        broadcast.requirements_changed(row.run_id, [row.id])
    return comment


def claims_expire_idle(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release claims held longer than ``HITL_CLAIM_IDLE_SECONDS`` (0: claims never expire)."""
    idle = getattr(settings, "HITL_CLAIM_IDLE_SECONDS", 0)
    if not idle:
        return 0
    now = now or timezone.now()
    stale = Requirement.objects.filter(
        status=Requirement.Status.PENDING, claimed_by__isnull=False, claimed_at__lt=now - timedelta(seconds=idle)
    ).values_list("id", "run_id")[:limit]
    count = 0
    for requirement_id, run_id in stale:
        with transaction.atomic():
            if lock_run(run_id, skip_locked=True) is None:
                continue
            row = (
                Requirement.objects.select_for_update(of=("self",))
                .select_related("claimed_by")
                .filter(id=requirement_id)
                .first()
            )
            if (
                row is None
                or not row.is_pending
                or row.claimed_at is None
                or row.claimed_at >= now - timedelta(seconds=idle)
            ):
                continue
            previous = row.claimed_by.get_username() if row.claimed_by else ""
            _claim_write(row, None, now)
            _record_change(row, None, AssignmentChange.Action.CLAIM_EXPIRED, from_label=previous, now=now)
            broadcast.requirements_changed(run_id, [row.id])
            count += 1
    return count


@dataclass(frozen=True)
class BulkDecision:
    """One item of a bulk decision: what ``requirement_resolve`` takes for one requirement."""

    id: str
    action: str
    data: dict | None = None
    version: int | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one item: ``status`` is done, conflict, invalid, forbidden or not_found;
    ``code`` says more (e.g. resolved, approval_recorded, already_resolved, stale_version,
    expired, claimed); ``errors`` per field; ``message`` in words, where there is more to say."""

    id: str
    status: str
    code: str
    errors: dict = dc_field(default_factory=dict)
    message: str = ""


def requirements_resolve_bulk(*, user, items: list[BulkDecision]) -> list[BulkOutcome]:
    """Decide several requirements, each through :func:`requirement_resolve` in its own
    transaction: one item's conflict or bad data changes nothing for the others, and each keeps
    its own version check (a requirement someone else decided first is a ``conflict``)."""
    inspectable = selectors.requirements_inspectable_by(user)
    outcomes = []
    for item in items:
        outcomes.append(_resolve_one(user, inspectable, item))
    return outcomes


def _resolve_one(user, inspectable, item: BulkDecision) -> BulkOutcome:
    try:
        req = inspectable.filter(id=item.id).first()
    except (ValueError, DjangoValidationError):
        req = None
    if req is None:
        return BulkOutcome(item.id, "not_found", "not_found")
    if not selectors.user_may_resolve(user, req):
        return BulkOutcome(item.id, "forbidden", "forbidden")
    try:
        row = requirement_resolve(
            requirement_id=req.id, user=user, action=item.action, data=item.data, version=item.version
        )
    except Requirement.DoesNotExist:
        return BulkOutcome(item.id, "not_found", "not_found")
    except ValidationError as exc:
        return BulkOutcome(item.id, "invalid", "invalid", dict(exc.errors))
    except DecisionError as exc:
        return BulkOutcome(item.id, "invalid", "invalid", {"action": str(exc)})
    except ExpiredError:
        return BulkOutcome(item.id, "conflict", "expired")
    except registry.WorkflowUnavailableError:
        return BulkOutcome(item.id, "conflict", "workflow_unavailable")
    except teams.SeparationOfDutiesError as exc:
        return BulkOutcome(item.id, "forbidden", "separation_of_duties", message=str(exc))
    except teams.TeamConflict as exc:  # claimed by someone else, already approved by you, ...
        return BulkOutcome(item.id, "conflict", exc.code, message=str(exc))
    except ConflictError:
        current = Requirement.objects.filter(id=req.id).values_list("status", flat=True).first()
        code = "stale_version" if current == Requirement.Status.PENDING else f"already_{str(current).lower()}"
        return BulkOutcome(item.id, "conflict", code)
    if row.is_pending:  # an approval toward a quorum: it waits for the others
        needed = teams.approvals_needed(row)
        return BulkOutcome(item.id, "done", "approval_recorded", message=f"Approval recorded; {needed} more needed")
    return BulkOutcome(item.id, "done", "resolved")


def _after_change(run: WorkflowRun, requirement_ids, now: datetime) -> None:
    """Schedule the run (row locked by the caller) when it has everything it waits for; refresh
    pages either way. A RUNNING run needs nothing: its worker sees the change when it finishes."""
    broadcast.requirements_changed(run.id, requirement_ids)
    if run.status != WorkflowRun.Status.PAUSED:
        return
    try:
        # A paused run has no events after its snapshot (its execution ended writing both).
        persistence.check_continuable(state_from_row(run, fold_events=False))
    except RunStateError:
        return  # e.g. other tool calls of the same agent turn still wait
    # Marked in the same transaction: if the continuation is lost (broker down, process killed
    # before it sent), the sweeper sends it again once this passes.
    run.lease_until, run.updated_at = now + requeue_delay(), now
    sql.update(WorkflowRun, {"lease_until": run.lease_until, "updated_at": now}, id=run.id)
    dispatch.advance_on_commit(run.id)


def requirement_add_assignees(*, requirement_id, usernames=(), group_names=(), reason: str = "") -> list[str]:
    """Add assignees to a pending requirement (escalation); returns the ``user:``/``group:`` names
    added. The requirement stays open to whoever could decide it already. A ``RequirementAssigned``
    event records it in the run's history. Unknown names are skipped (and not returned)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    with transaction.atomic():
        run_id = Requirement.objects.values_list("run_id", flat=True).get(id=requirement_id)
        lock_run(run_id)  # the lock order of every writer: the run, then the requirement
        row = Requirement.objects.select_for_update().get(id=requirement_id)
        if not row.is_pending:
            return []
        users = (
            get_user_model().objects.filter(username__in=usernames, is_active=True).exclude(assigned_requirements=row)
        )
        groups = Group.objects.filter(name__in=group_names).exclude(assigned_requirements=row)
        added = [f"user:{u.get_username()}" for u in users] + [f"group:{g.name}" for g in groups]
        if not added:
            return []
        row.assignees.add(*users)
        row.groups.add(*groups)
        append_event(
            run_id,
            "RequirementAssigned",
            {"requirement_id": str(row.id), "added": added, "reason": reason},
            step_name=row.step_name,
        )
        broadcast.requirements_changed(run_id, [row.id])
    return added


# -- the sweeper ----------------------------------------------------------------------------------
def requirements_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply ``on_timeout`` to due requirements and continue their runs. Several sweepers may run
    at once: each run is handled by whoever locks it (SKIP LOCKED); a worker claiming the run
    applies its due timeouts itself."""
    now = now or timezone.now()
    run_ids = (
        Requirement.objects.filter(status=Requirement.Status.PENDING, timeout_at__lte=now)
        .order_by("timeout_at")
        .values_list("run_id", flat=True)[:limit]
    )
    count = 0
    for run_id in dict.fromkeys(run_ids):
        with transaction.atomic():
            run = lock_run(run_id, skip_locked=True)
            if run is None:
                continue
            expired = DjangoStore().expire_due(run.id, now)
            if expired:
                _after_change(run, [r.id for r in expired], now)
            count += len(expired)
    return count


def runs_recover(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send again the runs that have work and no worker; returns how many.

    - RUNNING past its lease: its worker died. The checkpoint is brought up to date from the
      event log, the run goes back to PENDING under a new version (fencing out the old worker
      should it be alive after all), and is sent again; a cancel requested meanwhile applies now.
    - PENDING or PAUSED past ``lease_until``: a continuation was sent and nobody picked it up
      (broker down, message lost, process killed before it sent). Sent again, then less and less
      often while it keeps waiting (the wait doubles, up to ten minutes).
    - The same, when its workflow is not registered here: sent again while the wait doubles (a
      worker of a newer deployment may know it), then set aside once it has waited past the cap,
      with the reason on it (``runs_retry_unavailable`` sends it once the workflow is back).
    """
    now = now or timezone.now()
    resend = []
    store = DjangoStore()
    Status = WorkflowRun.Status
    due = WorkflowRun.objects.filter(status__in=WorkflowRun.ACTIVE_STATUSES, lease_until__lt=now)
    for run_id in due.order_by("lease_until").values_list("id", flat=True)[:limit]:
        with transaction.atomic():
            run = lock_run(run_id, skip_locked=True)
            if run is None or not run.is_active or run.lease_until is None or run.lease_until >= now:
                continue  # someone else has it, or it moved on meanwhile
            if run.status == Status.RUNNING:
                if run.cancel_requested_by:
                    store.cancel(run, who=run.cancel_requested_by, now=now)
                    continue
                run.state = state_from_row(run).snapshot()  # what its worker checkpointed last
                run.status, run.version = Status.PENDING, run.version + 1
                run.lease_until = now + requeue_delay()
                run.save(update_fields=["state", "status", "version", "lease_until", "updated_at"])
                log.warning("run %s: its worker stopped renewing its lease; sending it again", run.id)
            else:
                if run.status == Status.PAUSED:
                    try:
                        persistence.check_continuable(state_from_row(run))
                    except RunStateError:
                        WorkflowRun.objects.filter(id=run.id).update(lease_until=None)
                        continue
                waited = now - run.updated_at
                longest = max(timedelta(minutes=10), requeue_delay())
                if waited > longest and not registry.is_registered(run.workflow_name):
                    _workflow_unavailable(run, now)
                    continue
                backoff = min(max(waited, requeue_delay()), longest)
                WorkflowRun.objects.filter(id=run.id).update(lease_until=now + backoff)
            resend.append(str(run.id))
    for run_id in resend:
        dispatch.send_quietly(run_id)
    return len(resend)


def _workflow_unavailable(run: WorkflowRun, now: datetime) -> None:
    """Set aside a run (locked by the caller) whose workflow is not registered: no more resends,
    and the reason where operators look."""
    error = (
        f"{registry.UNAVAILABLE}: no workflow named '{run.workflow_name}' is registered. The run waits, "
        "and goes on once the workflow is registered again."
    )
    log.warning("run %s set aside: %s", run.id, error)
    WorkflowRun.objects.filter(id=run.id).update(error=error, lease_until=None, updated_at=now)
    append_event(run.id, "WorkflowUnavailable", {"error": error}, now=now)
    broadcast.run_changed(run.id)


def runs_retry_unavailable(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send again the runs set aside because their workflow was not registered, once this process
    has it (after a deploy that restores it, or a ``register()``). A definition that changed
    meanwhile is the worker's to refuse, as for any continuation."""
    now = now or timezone.now()
    candidates = WorkflowRun.objects.filter(
        status__in=(WorkflowRun.Status.PENDING, WorkflowRun.Status.PAUSED),
        lease_until__isnull=True,
        error__startswith=registry.UNAVAILABLE,
    )
    resend = []
    for name in set(candidates.values_list("workflow_name", flat=True).distinct()[:limit]):
        if not registry.is_registered(name):
            continue
        for run_id, version in candidates.filter(workflow_name=name).values_list("id", "version")[:limit]:
            updated = candidates.filter(id=run_id, version=version).update(
                error="", lease_until=now + requeue_delay(), updated_at=now
            )
            if updated:
                broadcast.run_changed(run_id)
                resend.append(str(run_id))
    for run_id in resend:
        dispatch.send_quietly(run_id)
    return len(resend)


# Workflow definitions this process has already tried on runs refused for a definition change.
_definitions_tried: dict[str, str] = {}


def runs_retry_definition_errors(*, limit: int = 200) -> int:
    """Send again paused runs refused for a definition change, once per definition this process
    runs: after a deploy that restores (or fixes) the definition they continue by themselves."""
    candidates = (
        WorkflowRun.objects.filter(status=WorkflowRun.Status.PAUSED, lease_until__isnull=True)
        .exclude(error="")
        .exclude(error__startswith=registry.UNAVAILABLE)  # runs_retry_unavailable's
    )
    names = set(candidates.values_list("workflow_name", flat=True).distinct()[:limit])
    resend = []
    for name in names:
        try:
            workflow = registry.get(name)
        except registry.WorkflowNotFound:
            continue
        if _definitions_tried.get(name) == workflow.fingerprint:
            continue
        _definitions_tried[name] = workflow.fingerprint
        for run in candidates.filter(workflow_name=name)[:limit]:
            state = state_from_row(run)
            try:
                workflow.check_compatible(state)
                persistence.check_continuable(state)
            except (DefinitionChangedError, RunStateError):
                continue
            updated = WorkflowRun.objects.filter(id=run.id, version=run.version, lease_until__isnull=True).update(
                error="", lease_until=timezone.now() + requeue_delay()
            )
            if updated:
                resend.append(str(run.id))
    for run_id in resend:
        dispatch.send_quietly(run_id)
    return len(resend)


def sweep(*, now: datetime | None = None) -> dict:
    """One round of the sweeper (the in-process one, the Celery beat task, ``manage.py sweep``)."""
    done = {
        "expired": requirements_expire_due(now=now),
        "claims_released": claims_expire_idle(now=now),
        "recovered": runs_recover(now=now) + runs_retry_unavailable(now=now) + runs_retry_definition_errors(),
    }
    for hook in hooks.sweep:  # hook: other apps' periodic work (deliveries, reminders)
        done.update(hook(now=now))
    return done
