"""Writes of the notifications app: webhook endpoints, queuing deliveries, sending them.

Deliveries are rows written by hooks (``workflows.runtime.hooks``, ``workflows.services.resolution_hooks``)
inside the transaction of the change they announce: they commit with it or not at all, and
nothing is sent before the commit. They are sent afterwards, by a Celery task published on commit
(services mode) and by every sweep (both modes: Celery beat, or the in-process sweeper thread),
which also sends the retries that fell due. A decision or a run never waits for a delivery.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.mail import mailers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, IntegerField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from workflows import registry
from workflows import services as workflow_services
from workflows.engine.errors import ExpiredError, ValidationError
from workflows.models import Requirement, RunEvent, WorkflowRun
from workflows.representations import requirement_json, run_json
from workflows.runtime import hooks
from workflows.store import lock_run, sql, state_from_row

from . import addresses, emails, outbox, posting, selectors, signing
from .endpoints import active as active_endpoints
from .models import EVENTS, Delivery, FollowUp, Preference, UsedActionToken, WebhookEndpoint

log = logging.getLogger("notifications")

RUN_EVENTS = {
    WorkflowRun.Status.COMPLETED: "run.completed",
    WorkflowRun.Status.ERROR: "run.failed",
    WorkflowRun.Status.CANCELLED: "run.cancelled",
}
SEND_THREADS = 16  # turns of webhooks of one pass go out side by side (see _post_all)
SEND_CHUNK = 16  # webhooks to one origin posted one after the other, at least (one kept connection)


def _setting(name: str, default):
    return getattr(settings, name, default)


# -- webhook endpoints ----------------------------------------------------------------------------
def webhook_create(*, url, events, user=None) -> WebhookEndpoint:
    """Register an endpoint; its ``secret`` is generated here (callers show it once)."""
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.core.validators import URLValidator

    errors = {}
    if not isinstance(url, str) or not url:
        errors["url"] = "An http(s) URL is required."
    else:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            errors["url"] = "An http(s) URL is required."
        else:
            try:
                addresses.validate_target(url)
            except DjangoValidationError as exc:
                errors["url"] = exc.messages[0]
        if len(url) > 2000:
            errors["url"] = "At most 2000 characters."
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        errors["events"] = f"A non-empty list of event names: {', '.join(EVENTS)}."
    elif unknown := [e for e in events if e not in EVENTS]:
        errors["events"] = f"Unknown event {unknown[0]!r}; one of {', '.join(EVENTS)}."
    if errors:
        raise ValidationError(errors)
    authenticated = user is not None and user.is_authenticated
    return WebhookEndpoint.objects.create(
        url=url,
        events=list(dict.fromkeys(events)),
        secret=signing.new_secret(),
        created_by=user if authenticated else None,
    )


def webhook_delete(*, endpoint_id) -> bool:
    """Remove an endpoint; its queued deliveries die (nothing can sign them any more)."""
    with transaction.atomic():
        deleted, _ = WebhookEndpoint.objects.filter(id=endpoint_id).delete()
    return bool(deleted)


# -- queuing: the hooks ---------------------------------------------------------------------------
def _endpoints_for(event: str) -> list[tuple]:
    """``(id, url)`` of the active endpoints listening to ``event``. The end of every run asks it:
    a worker's connection keeps them between changes (``notifications.endpoints``)."""
    return [(endpoint_id, url) for endpoint_id, url, events in active_endpoints() if event in events]


def _webhooks(
    event: str, data_by_requirement: list[tuple[Requirement | None, dict]], now, endpoints=None
) -> list[Delivery]:
    deliveries = []
    for endpoint_id, url in _endpoints_for(event) if endpoints is None else endpoints:
        for requirement, data in data_by_requirement:
            delivery = Delivery(
                channel=Delivery.Channel.WEBHOOK,
                event=event,
                endpoint_id=endpoint_id,
                target=url,
                requirement=requirement,
                next_attempt_at=now,
                created_at=now,
            )
            delivery.payload = {"id": str(delivery.id), "event": event, "created_at": now, "data": data}
            deliveries.append(delivery)
    return deliveries


def _queue(deliveries: list[Delivery]) -> None:
    """Write the deliveries (in the caller's transaction) and have them sent after its commit."""
    if not deliveries:
        return
    sql.insert(Delivery, _delivery_rows(deliveries))
    ids = [str(d.id) for d in deliveries]
    transaction.on_commit(lambda: publish(ids))


_DELIVERY_FIELDS = (
    "id",
    "channel",
    "event",
    "endpoint",
    "recipient",
    "target",
    "requirement",
    "run_id",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "response_code",
    "created_at",
    "delivered_at",
)
_DELIVERY_ATTRS = tuple(Delivery._meta.get_field(name).attname for name in _DELIVERY_FIELDS)


def _delivery_rows(deliveries: list[Delivery]) -> list[dict]:
    for delivery in deliveries:  # as the receiver will read it: JSON, dates as ISO text
        delivery.payload = json.loads(json.dumps(delivery.payload, cls=DjangoJSONEncoder))
    fields = tuple(zip(_DELIVERY_FIELDS, _DELIVERY_ATTRS, strict=True))
    return [{name: getattr(d, attname) for name, attname in fields} for d in deliveries]


def requirements_created(*, run_id, requirement_ids) -> None:
    """A ``workflows.runtime.hooks.requirements_created`` hook: webhooks, and a mail and a chat message
    to each person who may decide (as they chose; after their quiet hours), and the chat of each
    group the requirement is assigned to."""
    now = timezone.now()
    if len(requirement_ids) == 1:  # the usual pause: one statement written once, not an ORM query
        requirements = sql.instances(Requirement, id=requirement_ids[0])
    else:
        requirements = list(Requirement.objects.filter(id__in=requirement_ids).order_by("seq"))
    endpoints = _endpoints_for("requirement.created")
    deliveries = (
        _webhooks("requirement.created", [(r, requirement_json(r)) for r in requirements], now, endpoints)
        if endpoints
        else []
    )
    for requirement in requirements:
        deliveries += _messages(requirement, "requirement.created", selectors.deciders_with_channels(requirement), now)
        for url in selectors.group_chats_for(requirement):
            deliveries.append(_message(Delivery.Channel.CHAT, "requirement.created", requirement, None, url, now))
    _queue(deliveries)
    follow_ups = [f for f in (_follow_up(r) for r in requirements) if f is not None]
    if follow_ups:
        FollowUp.objects.bulk_create(follow_ups)


# -- reminders and escalation ---------------------------------------------------------------------
def _review_of(requirement: Requirement):
    """The ``HumanReview`` of the requirement's step in the running definition (None if gone)."""
    try:
        node = registry.get(requirement.workflow_name).index.get(requirement.path)
    except registry.WorkflowNotFound:
        return None
    return getattr(node, "human_review", None)


def _follow_up(requirement: Requirement) -> FollowUp | None:
    review = _review_of(requirement)
    if review is None or not (review.remind_before or review.remind_every or review.escalate):
        return None
    follow_up = FollowUp(requirement=requirement)
    _schedule(follow_up, requirement, review, after=requirement.created_at)
    return follow_up


def _schedule(follow_up: FollowUp, requirement: Requirement, review, *, after: datetime) -> None:
    """The next reminder and escalation strictly after ``after`` (a missed tick is not caught up:
    one reminder covers it)."""
    created = requirement.created_at
    candidates = []
    if review.remind_before and requirement.timeout_at and not follow_up.reminded_before_deadline:
        before = requirement.timeout_at - timedelta(seconds=review.remind_before)
        candidates.append(max(before, created))
    if review.remind_every:
        every = timedelta(seconds=review.remind_every)
        ticks = int((after - created) / every) + 1
        candidates.append(created + ticks * every)
    if requirement.timeout_at:  # nothing to remind of once the timeout decides
        candidates = [c for c in candidates if c < requirement.timeout_at]
    follow_up.next_reminder_at = min(candidates) if candidates else None
    steps = review.escalate[follow_up.escalations_done :]
    follow_up.next_escalation_at = created + timedelta(seconds=steps[0][0]) if steps else None
    times = [t for t in (follow_up.next_reminder_at, follow_up.next_escalation_at) if t is not None]
    follow_up.due_at = min(times) if times else None


def follow_ups_due(*, now: datetime | None = None, limit: int = 200) -> dict:
    """Send due reminders and apply due escalation steps (the sweeper's pass). Each fires once:
    the follow-up row is taken under the run's lock and moved on in the same transaction."""
    now = now or timezone.now()
    due = FollowUp.objects.filter(due_at__lte=now).order_by("due_at").values_list("requirement_id", flat=True)[:limit]
    reminded = escalated = 0
    for requirement_id in list(due):
        with transaction.atomic():
            requirement = Requirement.objects.filter(id=requirement_id).first()
            if requirement is None or lock_run(requirement.run_id, skip_locked=True) is None:
                continue  # gone, or its run is busy: the next sweep
            follow_up = (
                FollowUp.objects.select_for_update().filter(requirement_id=requirement_id, due_at__lte=now).first()
            )
            requirement.refresh_from_db()
            if follow_up is None:
                continue
            review = _review_of(requirement)
            if not requirement.is_pending or review is None:
                follow_up.delete()  # decided, expired or cancelled: nothing more to say
                continue
            escalate_due = follow_up.next_escalation_at is not None and follow_up.next_escalation_at <= now
            remind_due = follow_up.next_reminder_at is not None and follow_up.next_reminder_at <= now
            for after, target in review.escalate[follow_up.escalations_done :]:
                if requirement.created_at + timedelta(seconds=after) > now or not escalate_due:
                    break
                follow_up.escalations_done += 1  # once, whatever happens to its notices
                escalated += _escalate(requirement, target, now)
            if remind_due:
                before = review.remind_before and requirement.timeout_at
                if before and now >= requirement.timeout_at - timedelta(seconds=review.remind_before):
                    follow_up.reminded_before_deadline = True
                follow_up.reminders_sent += 1
                _queue(_messages(requirement, "requirement.reminder", _undecided(requirement), now))
                reminded += 1
            _schedule(follow_up, requirement, review, after=now)
            if follow_up.due_at is None:
                follow_up.delete()
            else:
                follow_up.save()
    return {"reminded": reminded, "escalated": escalated}


def _undecided(requirement: Requirement):
    """The people to remind: who may decide it (nobody has acted on a pending requirement yet)."""
    return selectors.deciders_with_channels(requirement)


def _escalate(requirement: Requirement, target: str, now: datetime) -> int:
    kind, _, name = target.partition(":")
    added = workflow_services.requirement_add_assignees(
        requirement_id=requirement.id,
        usernames=[name] if kind == "user" else [],
        group_names=[name] if kind == "group" else [],
        reason="escalation",
    )
    if not added:
        return 0
    requirement.refresh_from_db()
    User = get_user_model()
    people = (
        User.objects.filter(is_active=True)
        .filter(Q(username=name) if kind == "user" else Q(groups__name=name))
        .select_related("notification_preference")
        .prefetch_related("groups__notification_preference")
    )
    _queue(_messages(requirement, "requirement.escalated", [(u, selectors.channels_of(u)) for u in people], now))
    return 1


def _message(channel, event: str, requirement, user, target: str, due) -> Delivery:
    return Delivery(
        channel=channel,
        event=event,
        recipient=user,
        target=target,
        requirement=requirement,
        next_attempt_at=due,
        created_at=timezone.now(),
    )


def _messages(requirement, event: str, people, now) -> list[Delivery]:
    """Mail and chat deliveries to ``people`` (``(user, channels)``) about ``requirement``."""
    deliveries = []
    for user, channels in people:
        due = selectors.quiet_until(channels, now)
        if channels.email and user.email:
            deliveries.append(_message(Delivery.Channel.EMAIL, event, requirement, user, user.email, due))
        if channels.chat and channels.chat_webhook_url:
            deliveries.append(_message(Delivery.Channel.CHAT, event, requirement, user, channels.chat_webhook_url, due))
    return deliveries


def requirement_resolved(*, requirement, user, resolution, shown, **context) -> None:
    """A ``workflows.store.resolution_hooks`` hook: every resolution, whatever its path (page, API,
    Python API, link). A timeout is told as ``requirement.expired`` instead (its own hook)."""
    if requirement.status == Requirement.Status.EXPIRED or (resolution or {}).get("action") == "timed_out":
        return
    endpoints = _endpoints_for("requirement.resolved")
    if not endpoints:
        return
    if not isinstance(requirement, Requirement):  # the engine's object (a Python-API decision)
        requirement = Requirement.objects.get(id=requirement.id)
    now = timezone.now()
    data = [(requirement, requirement_json(requirement))]
    _queue(_webhooks("requirement.resolved", data, now, endpoints=endpoints))


def requirement_expired(*, run_id, requirement_id) -> None:
    """A ``workflows.runtime.hooks.requirement_expired`` hook."""
    now = timezone.now()
    endpoints = _endpoints_for("requirement.expired")
    if not endpoints:
        return
    requirement = Requirement.objects.get(id=requirement_id)
    _queue(_webhooks("requirement.expired", [(requirement, requirement_json(requirement))], now, endpoints))


def run_ended(*, run_id, status) -> None:
    """A ``workflows.runtime.hooks.run_ended`` hook (a run's end written by the general path)."""
    rows = _run_rows(run_id, status)
    if rows:
        sql.insert(Delivery, rows)
        ids = [str(row["id"]) for row in rows]
        transaction.on_commit(lambda: publish(ids))


def run_end_rows(*, run_id, status) -> list:
    """A ``workflows.runtime.hooks.run_end_rows`` hook: the same deliveries, as rows of the statement that
    writes the run's end on PostgreSQL (one round trip, atomic with it), published once it committed."""
    rows = _run_rows(run_id, status)
    if not rows:
        return []
    ids = [str(row["id"]) for row in rows]
    return [(Delivery, rows, lambda: publish(ids))]


def _run_rows(run_id, status) -> list[dict]:
    """The delivery rows of a run's end, one per listening endpoint, as ``_delivery_rows`` makes
    them (built as rows directly: this is a worker's hot path). The run's JSON is added when the
    delivery is first sent: an ended run no longer changes, and its end then only inserts rows."""
    event = RUN_EVENTS.get(status)
    endpoints = _endpoints_for(event) if event else []
    if not endpoints:
        return []
    now = timezone.now()
    created_at = DjangoJSONEncoder().default(now)  # the payload's date as JSON has it
    rows = []
    for endpoint_id, url in endpoints:
        delivery_id = uuid.uuid4()
        payload = {"id": str(delivery_id), "event": event, "created_at": created_at, "data": None}
        rows.append(
            {
                "id": delivery_id,
                "channel": Delivery.Channel.WEBHOOK,
                "event": event,
                "endpoint": endpoint_id,
                "recipient": None,
                "target": url,
                "requirement": None,
                "run_id": run_id,
                "payload": payload,
                "status": Delivery.Status.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "response_code": None,
                "created_at": now,
                "delivered_at": None,
            }
        )
    return rows


# -- preferences ----------------------------------------------------------------------------------
def preference_update(*, user, values: dict) -> Preference:
    """Store ``user``'s channels, chat webhook, quiet hours and digest choice."""
    pref, _ = Preference.objects.update_or_create(user=user, defaults=values)
    return pref


# -- decide-from-the-message links ----------------------------------------------------------------
def requirement_resolve_by_link(*, requirement_id, token: str, user, now: datetime | None = None) -> Requirement:
    """Decide through a link (see ``notifications.links``): checked, then resolved through
    ``workflows.services.requirement_resolve`` (the one exactly-once path, audited), with the
    token recorded as used and the audit row noting the link, all in the decision's transaction.
    Raises ``links.LinkRefused``, or what ``requirement_resolve`` raises (nothing is applied then,
    except an expiry, which is kept)."""
    from . import links

    expired = None
    with transaction.atomic():
        link = links.check(token, user=user, requirement_id=requirement_id)
        try:
            with transaction.atomic():
                UsedActionToken.objects.create(
                    digest=links.token_digest(token), user=user, requirement=link.requirement, action=link.action
                )
        except IntegrityError:  # used by a concurrent request meanwhile
            raise links.LinkRefused("used", 410, link.requirement) from None
        via = hooks.decision_via.set("link")  # the audit row says how the decision came
        try:
            requirement = workflow_services.requirement_resolve(
                requirement_id=link.requirement.id, user=user, action=link.action, version=link.version, now=now
            )
        except ExpiredError as exc:  # the expiry committed with the inner transaction is kept
            expired = exc
        finally:
            hooks.decision_via.reset(via)
    if expired is not None:
        raise expired
    return requirement


# -- sending --------------------------------------------------------------------------------------
PUBLISH_GAP = 0.2  # seconds: at most one send task published per process in that time
_last_publish = 0.0
_trailing: threading.Timer | None = None  # the publish that follows a burst, once the gap is over
_publish_lock = threading.Lock()


def publish(ids: list[str]) -> None:
    """After commit: have a Celery worker send these now (services mode). In embedded mode the
    in-process sweeper sends them at its next pass. Never fails the caller: the sweep sends
    whatever was not sent.

    One task drains every due delivery, so a burst needs one task, not one per transaction. A
    publish within PUBLISH_GAP of the last one sends nothing itself but makes sure one task is
    published when the gap is over: the task published before may have taken its deliveries
    before these were committed, and they must not wait for the sweep."""
    global _last_publish, _trailing
    if settings.HITL_EMBEDDED:
        return
    with _publish_lock:
        wait = _last_publish + PUBLISH_GAP - time.monotonic()
        if wait > 0:
            if _trailing is None:
                _trailing = threading.Timer(wait, _publish_trailing, args=(ids,))
                _trailing.daemon = True
                _trailing.start()
            return
        _last_publish = time.monotonic()
    _send_task(ids)


def _publish_trailing(ids: list[str]) -> None:
    global _last_publish, _trailing
    with _publish_lock:  # cleared before sending: a publish from now on is seen by this task
        _trailing = None
        _last_publish = time.monotonic()
    _send_task(ids)


def _send_task(ids: list[str]) -> None:
    try:
        from celery import current_app

        current_app.send_task(
            "notifications.tasks.send_deliveries",
            args=[ids],
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2},
        )
    except Exception:
        log.warning("could not publish %d deliveries; the sweeper sends them", len(ids), exc_info=True)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from HITL_DELIVERY_RETRY_SECONDS."""
    base = float(_setting("HITL_DELIVERY_RETRY_SECONDS", 10))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _lease_seconds() -> float:
    """How long a pass holds what it claimed: a sender that dies leaves it to be sent again after."""
    return 4 * float(_setting("HITL_WEBHOOK_TIMEOUT", 5)) + 60


def _pass_budget() -> float:
    """Seconds a pass may start attempts in: its last one ends before the lease does, so no other
    sender ever takes a delivery this one is still sending."""
    return _lease_seconds() - float(_setting("HITL_WEBHOOK_TIMEOUT", 5)) - 10


# The outcome of a delivery a pass did not get to (its budget was spent): given back as it was.
UNTRIED = (None, "untried")


def _claim(*, ids, now: datetime, limit: int) -> list[Delivery]:
    """Take due deliveries: each counts an attempt and is hidden for a lease (a sender that dies
    leaves it to be sent again once the lease is over). Several senders never take the same row."""
    lease_until = now + timedelta(seconds=_lease_seconds())
    if outbox.usable():  # PostgreSQL: one statement
        claimed = outbox.claim(ids=ids, now=now, lease_until=lease_until, limit=limit)
        people = {d.recipient_id for d in claimed if d.recipient_id is not None}
        if people:  # mails and chat messages name their recipient
            users = get_user_model().objects.in_bulk(people)
            for delivery in claimed:
                if delivery.recipient_id is not None:
                    delivery.recipient = users.get(delivery.recipient_id)
        return claimed
    with transaction.atomic():
        qs = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        if ids is not None:
            qs = qs.filter(id__in=ids)
        claimed = list(qs.select_related("endpoint", "recipient").order_by("next_attempt_at")[:limit])
        if claimed:
            Delivery.objects.filter(id__in=[d.id for d in claimed]).update(
                attempts=F("attempts") + 1, next_attempt_at=lease_until
            )
    for delivery in claimed:
        delivery.attempts += 1
    return claimed


def _post(delivery: Delivery, proxies: dict | None = None) -> tuple[int | None, str]:
    """One webhook or chat attempt (in a sending thread: no database here). ``(status code, error)``."""
    # Keys sorted: the same bytes on every attempt, however the database kept the JSON.
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "HITL-Approvals-Webhooks/1"}
    if delivery.channel == Delivery.Channel.WEBHOOK:  # a chat webhook takes the message as it is
        if delivery.endpoint is None:
            return None, "The endpoint was deleted."
        headers["X-HITL-Event"] = delivery.event
        headers["X-HITL-Delivery"] = str(delivery.id)
        headers["X-HITL-Signature"] = signing.signature(delivery.endpoint.secret, int(time.time()), body)
    timeout = float(_setting("HITL_WEBHOOK_TIMEOUT", 5))
    return posting.post(delivery.target, body, headers, timeout=timeout, proxies=proxies)


def _post_each(deliveries: list[Delivery], proxies: dict, deadline: float) -> list[tuple[int | None, str]]:
    """One after the other (one thread, one kept connection per origin). Once the origin gives no
    answer at all (refused, timed out), the rest of the turn fails with it at once instead of
    waiting out a timeout each; what is left at the pass's ``deadline`` is UNTRIED."""
    results = []
    unreachable = ""
    for delivery in deliveries:
        if time.monotonic() > deadline:
            results.append(UNTRIED)
        elif unreachable:
            results.append((None, f"Not sent: an attempt before it in this pass failed ({unreachable})"[:2000]))
        else:
            code, error = _post(delivery, proxies)
            results.append((code, error))
            if code is None and error and _reached(delivery):
                unreachable = error
    return results


def _reached(delivery: Delivery) -> bool:
    """Whether a failed attempt of this delivery speaks of its origin (not of a deleted endpoint)."""
    return delivery.channel == Delivery.Channel.CHAT or delivery.endpoint is not None


def _post_all(deliveries: list[Delivery], deadline: float) -> list[tuple[Delivery, int | None, str]]:
    """POST the webhooks and chat messages of a pass: ``(delivery, code, error)`` each.

    Deliveries to one origin go in turns of at least SEND_CHUNK, each turn one after the other on
    one kept connection (see ``posting``); different origins never share a turn, and turns run side
    by side on the process's SEND_THREADS sending threads, so a slow or failing endpoint holds up
    its own turns only. A pass with a single turn (the usual: a few deliveries to one endpoint)
    posts in the calling thread."""
    by_origin = defaultdict(list)
    for delivery in deliveries:
        by_origin[urlsplit(delivery.target)[:2]].append(delivery)
    turns = []
    for same_origin in by_origin.values():
        count = min(SEND_THREADS, -(-len(same_origin) // SEND_CHUNK))
        turns += [same_origin[i::count] for i in range(count)]
    proxies = posting.proxies()
    if len(turns) == 1:
        results = [_post_each(turns[0], proxies, deadline)]
    else:
        n = len(turns)
        results = list(posting.pool(SEND_THREADS).map(_post_each, turns, [proxies] * n, [deadline] * n))
    return [
        (delivery, *result)
        for turn, turn_results in zip(turns, results, strict=True)
        for delivery, result in zip(turn, turn_results, strict=True)
    ]


def _pending_requirements(deliveries: list[Delivery]) -> dict:
    """The still pending requirements these deliveries speak of, by id (one query)."""
    ids = {d.requirement_id for d in deliveries if d.requirement_id}
    if not ids:
        return {}
    return {r.id: r for r in Requirement.objects.filter(id__in=ids, status=Requirement.Status.PENDING)}


def _send_mails(
    deliveries: list[Delivery], requirements: dict, deadline: float
) -> list[tuple[Delivery, int | None, str, bool]]:
    """Mails of one pass, through one connection. ``(delivery, code, error, skipped)``; those left
    at the pass's ``deadline`` are UNTRIED."""
    outcomes = []
    messages = []
    for delivery in deliveries:
        if delivery.event == "digest":
            message = emails.digest_mail(delivery, now=delivery.created_at)
        else:
            message = emails.requirement_mail(delivery, requirements.get(delivery.requirement_id))
        if message is None:
            outcomes.append((delivery, None, "Nothing to say any more (decided, or the user is gone).", True))
        else:
            messages.append((delivery, message))
    if messages:
        try:
            connection = mailers.default
            connection.open()
        except Exception as exc:
            return outcomes + [(d, None, f"{type(exc).__name__}: {exc}", False) for d, _ in messages]
        try:
            for delivery, message in messages:
                if time.monotonic() > deadline:
                    outcomes.append((delivery, *UNTRIED, False))
                    continue
                try:
                    connection.send_messages([message])
                    outcomes.append((delivery, None, "", False))
                except Exception as exc:
                    outcomes.append((delivery, None, f"{type(exc).__name__}: {exc}"[:2000], False))
        finally:
            try:
                connection.close()
            except Exception:
                log.warning("closing the mail connection failed", exc_info=True)
    return outcomes


def deliveries_send(*, ids=None, now: datetime | None = None, limit: int = 500) -> int:
    """Send due deliveries (all, or among ``ids``), at most ``limit``; returns how many were
    delivered. A failed attempt is tried again later, waiting twice as long each time, and dies
    after HITL_DELIVERY_MAX_ATTEMPTS. One endpoint's failures or slowness touch no other one."""
    now = now or timezone.now()
    deadline = time.monotonic() + _pass_budget()
    claimed = _claim(ids=ids, now=now, limit=limit)
    if not claimed:
        return 0
    outcomes = []
    chats = [d for d in claimed if d.channel == Delivery.Channel.CHAT]
    requirements = _pending_requirements([d for d in claimed if d.channel != Delivery.Channel.WEBHOOK])
    for chat in chats:  # rendered here (the database), posted with the webhooks (no database)
        chat.payload = emails.chat_payload(requirements.get(chat.requirement_id))
        if chat.payload is None:
            outcomes.append((chat, None, "Nothing to say any more (decided meanwhile).", True))
    webhooks = [
        d
        for d in claimed
        if d.channel == Delivery.Channel.WEBHOOK or (d.channel == Delivery.Channel.CHAT and d.payload)
    ]
    gone, filled = _with_run_data([d for d in webhooks if d.run_id and d.payload.get("data") is None])
    if gone:
        outcomes += [(d, None, "The run was deleted before its event was sent.", True) for d in gone]
        gone_ids = {d.id for d in gone}
        webhooks = [d for d in webhooks if d.id not in gone_ids]
    if webhooks:
        outcomes += [(d, code, error, False) for d, code, error in _post_all(webhooks, deadline)]
    outcomes += _send_mails([d for d in claimed if d.channel == Delivery.Channel.EMAIL], requirements, deadline)
    return _record(outcomes, now=now, filled=filled)


def _with_run_data(deliveries: list[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    """Fill in the run's JSON of run.* deliveries sent for the first time: ``(those whose run is
    gone, those filled in)``. The pass stores the body with the outcome (``_record``), so that a
    retry sends the same bytes."""
    if not deliveries:
        return [], []
    data = _runs_data({d.run_id for d in deliveries})
    gone, filled = [], []
    for delivery in deliveries:
        if delivery.run_id not in data:
            gone.append(delivery)
            continue
        delivery.payload = {**delivery.payload, "data": data[delivery.run_id]}
        filled.append(delivery)
    return gone, filled


def _store_payloads(deliveries: list[Delivery]) -> None:
    """One UPDATE per delivery, sent together (psycopg pipelines ``executemany``: one round trip),
    without the ORM's per-row expressions of ``bulk_update``."""
    if not deliveries:
        return
    conn = connections[router.db_for_write(Delivery)]
    q, meta = conn.ops.quote_name, Delivery._meta
    payload, pk = meta.get_field("payload"), meta.pk
    with conn.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {q(meta.db_table)} SET {q(payload.column)} = %s WHERE {q(pk.column)} = %s",
            [(payload.get_db_prep_save(d.payload, conn), pk.get_db_prep_value(d.id, conn)) for d in deliveries],
        )


def _runs_data(run_ids) -> dict:
    """The JSON of these ended runs by id: on PostgreSQL in one statement, else in two queries
    however many (the rows, and the events written after their snapshots, usually none)."""
    if outbox.usable():
        found = outbox.runs(run_ids)
    else:
        runs = WorkflowRun.objects.select_related("created_by").in_bulk(run_ids)
        snapshot_seq = Coalesce(Cast(KeyTextTransform("seq", "run__state"), IntegerField()), 0)
        later = defaultdict(list)
        events = RunEvent.objects.filter(run_id__in=list(runs), seq__gt=snapshot_seq).only("run_id", "seq", "memo")
        for event in events.order_by("seq"):
            later[event.run_id].append(event)
        found = {run_id: (run, later[run_id]) for run_id, run in runs.items()}
    data = {}
    for run_id, (run, later_events) in found.items():
        state = state_from_row(run, fold_events=False, requirements=())  # only its step results are shown
        state.fold(later_events)
        # An anonymous reader is shown no requirement (and an ended run has no pending one):
        # nobody's visibility is at stake in its JSON.
        shown = run_json(run, AnonymousUser(), state=state, requirements=())
        data[run_id] = json.loads(json.dumps(shown, cls=DjangoJSONEncoder))
    return data


def _record(outcomes, *, now: datetime, filled=()) -> int:
    """Store each attempt's outcome, and the bodies of ``filled`` (run.* deliveries sent for the
    first time): one statement on PostgreSQL, else one transaction with a statement per kind of
    outcome. Returns how many were delivered."""
    max_attempts = int(_setting("HITL_DELIVERY_MAX_ATTEMPTS", 10))
    delivered_at = timezone.now()
    delivered = 0
    rows = []
    for delivery, code, error, skipped in outcomes:
        row = {
            "id": delivery.id,
            "status": Delivery.Status.PENDING,
            "attempts": delivery.attempts,
            "last_error": error,
            "response_code": code,
        }
        if (code, error) == UNTRIED:  # given back as it was, due at once
            row.update(
                attempts=delivery.attempts - 1,
                next_attempt_at=delivered_at,
                last_error=delivery.last_error,
                response_code=delivery.response_code,
            )
        elif skipped:
            row["status"] = Delivery.Status.SKIPPED
        elif not error and (code is None or 200 <= code < 300):
            row.update(status=Delivery.Status.DELIVERED, delivered_at=delivered_at, last_error="")
            delivered += 1
        elif delivery.channel == Delivery.Channel.WEBHOOK and delivery.endpoint_id is None:
            row["status"] = Delivery.Status.DEAD  # nothing can sign it
        elif delivery.attempts >= max_attempts:
            row["status"] = Delivery.Status.DEAD
            log.warning("delivery %s is dead after %d attempts: %s", delivery.id, delivery.attempts, error)
        else:
            row["next_attempt_at"] = now + retry_delay(delivery.attempts)
        rows.append(row)
    bodies = {d.id: d.payload for d in filled}
    if outbox.usable():
        outbox.record(
            [{"next_attempt_at": None, "delivered_at": None, **row, "payload": bodies.get(row["id"])} for row in rows]
        )
        return delivered
    same = defaultdict(list)
    for row in rows:
        same[tuple(sorted((k, v) for k, v in row.items() if k != "id"))].append(row["id"])
    with transaction.atomic():
        _store_payloads(filled)
        for values, ids in same.items():
            Delivery.objects.filter(id__in=ids).update(**dict(values))
    return delivered


def delivery_retry(*, delivery_id, now: datetime | None = None) -> bool:
    """Send a dead (or waiting) delivery again at the next pass, with a fresh count of attempts."""
    now = now or timezone.now()
    updated = Delivery.objects.filter(
        id=delivery_id, status__in=[Delivery.Status.DEAD, Delivery.Status.PENDING]
    ).update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now)
    if updated:
        transaction.on_commit(lambda: publish([str(delivery_id)]))
    return bool(updated)


# -- the daily digest -----------------------------------------------------------------------------
def digests_queue(*, now: datetime | None = None) -> int:
    """Queue today's digest mail for each person who asked for one; returns how many. At most one
    a day each, whoever runs it (a compare-and-set on the day it was last queued)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    count = 0
    for pref in Preference.objects.filter(digest=True).exclude(digest_sent_on=today).select_related("user"):
        user = pref.user
        with transaction.atomic():
            if not Preference.objects.filter(pk=pref.pk).exclude(digest_sent_on=today).update(digest_sent_on=today):
                continue  # someone else queued it
            if user.is_active and user.email:
                _queue([_message(Delivery.Channel.EMAIL, "digest", None, user, user.email, now)])
                count += 1
    return count


def _digest_due(now: datetime) -> bool:
    return timezone.localtime(now).hour >= int(_setting("HITL_DIGEST_HOUR", 8))


def sweep(*, now: datetime | None = None) -> dict:
    """A ``workflows.runtime.hooks.sweep`` hook: send what is due (new deliveries in embedded mode, retries)."""
    now = now or timezone.now()
    done = follow_ups_due(now=now)
    if _digest_due(now):  # from HITL_DIGEST_HOUR on, once a day per person
        done["digests"] = digests_queue(now=now)
    done["delivered"] = deliveries_send(now=now)
    return done
