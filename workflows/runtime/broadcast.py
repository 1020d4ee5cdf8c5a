"""Live updates: after commit, tell open pages (over Channels) that something changed.

Broadcasts carry ids only; each consumer re-renders for its own user.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

log = logging.getLogger("workflows")

INBOX_GROUP = "inbox"


def run_group(run_id) -> str:
    return f"run.{run_id}"


# Where group sends run. Channel layers are bound to event loops: the in-memory layer of embedded
# mode only wakes consumers when the send runs on the server's own loop, and channels-redis keeps
# its connections per loop. So sends go to the serving loop when this process serves (see
# worker.serving), else to one long-lived loop of this module's (Celery workers, commands).
_serving_loop: asyncio.AbstractEventLoop | None = None
_own_loop: asyncio.AbstractEventLoop | None = None
_own_loop_pid: int | None = None
_own_loop_lock = threading.Lock()


def use_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Send from now on through ``loop``, the loop this process's consumers run on."""
    global _serving_loop
    _serving_loop = loop


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _own_loop
    if _serving_loop is not None and _serving_loop.is_running():
        return _serving_loop
    global _own_loop_pid
    with _own_loop_lock:
        # A forked child (a prefork Celery worker, a test server) inherits the loop, not its thread.
        if _own_loop is None or _own_loop.is_closed() or _own_loop_pid != os.getpid():
            _own_loop, _own_loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_own_loop.run_forever, name="hitl-broadcast", daemon=True).start()
        return _own_loop


# Messages published within PUBLISH_COALESCE_SECONDS of each other go out together, one per group:
# under load (many runs finishing each second) a worker hands the loop one batch instead of a
# message per run, and the inbox group gets one message per batch. Pages only learn that something
# changed (they re-render for their own user), so merging the ids loses nothing.
PUBLISH_COALESCE_SECONDS = 0.025
_outbox: dict[str, dict] = {}
_outbox_lock = threading.Lock()
_outbox_state = {"pid": None, "scheduled_on": None}  # the loop a flush is scheduled on, if any


def _merge(group: str, event: dict) -> None:
    queued = _outbox.get(group)
    if queued is None or queued["type"] != event["type"]:
        _outbox[group] = {k: list(v) if isinstance(v, list) else v for k, v in event.items()}
        return
    for key, value in event.items():
        if isinstance(value, list):
            queued[key] += [v for v in value if v not in queued[key]]


async def _flush(layer) -> None:
    with _outbox_lock:
        messages = list(_outbox.items())
        _outbox.clear()
        _outbox_state["scheduled_on"] = None
    try:
        listened = await _listened(layer, [group for group, _ in messages])
    except Exception:
        log.warning("could not read who listens; sending to every group", exc_info=True)
        listened = {group for group, _ in messages}
    for group, event in messages:
        if group not in listened:
            continue
        try:
            await layer.group_send(group, event)
        except Exception:  # a push is best effort: pages also refresh on load
            log.warning("broadcast to %s failed", group, exc_info=True)


async def _listened(layer, groups: list[str]) -> set[str]:
    """The groups that may have members. Most groups have none (a run page nobody has open), and
    channels-redis spends two round trips on a send to an empty group: with it, the members of all
    the groups are counted in one pipelined round trip per Redis shard. Other layers: every group.
    """
    if not all(hasattr(layer, name) for name in ("_group_key", "consistent_hash", "connection")):
        return set(groups)
    by_shard: dict[int, list[str]] = {}
    for group in groups:
        by_shard.setdefault(layer.consistent_hash(group), []).append(group)
    listened = set()
    for shard, shard_groups in by_shard.items():
        pipe = layer.connection(shard).pipeline(transaction=False)
        for group in shard_groups:
            pipe.zcard(layer._group_key(group))  # members that expired count too: group_send drops them
        counts = await pipe.execute()
        listened.update(group for group, count in zip(shard_groups, counts, strict=True) if count)
    return listened


def _reaches_nobody(layer) -> bool:
    # An in-memory layer only reaches this process's consumers, and this process serves none.
    return layer is None or (isinstance(layer, InMemoryChannelLayer) and _serving_loop is None)


def publish(group: str, event: dict, *more: tuple[str, dict]) -> None:
    """Send ``event`` to ``group`` (and each ``(group, event)`` of ``more``) without waiting:
    fire and forget, coalesced with what else is published meanwhile."""
    layer = get_channel_layer()
    if _reaches_nobody(layer):
        return
    target = _publisher_loop()
    with _outbox_lock:
        if _outbox_state["pid"] != os.getpid():  # a forked child: what its parent queued is not its own
            _outbox.clear()
            _outbox_state.update(pid=os.getpid(), scheduled_on=None)
        for g, e in ((group, event), *more):
            _merge(g, e)
        scheduled_on = _outbox_state["scheduled_on"]
        if scheduled_on is not None and scheduled_on.is_running():
            return  # the flush already scheduled sends this too
        _outbox_state["scheduled_on"] = target

    def schedule():
        target.call_later(PUBLISH_COALESCE_SECONDS, lambda: target.create_task(_flush(layer)))

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is target:  # sync code inside the target loop's own thread
        schedule()
    else:
        target.call_soon_threadsafe(schedule)


def requirements_changed(run_id, requirement_ids=()) -> None:
    """After commit, inboxes and the run's page refresh the given requirements (created, resolved,
    expired) and the run."""
    ids = [str(i) for i in requirement_ids]
    inbox = {"type": "inbox.changed", "run_ids": [str(run_id)], "requirement_ids": ids}
    run = (run_group(run_id), {"type": "run.changed", "run_id": str(run_id)})
    transaction.on_commit(lambda: publish(INBOX_GROUP, inbox, run))


def run_changed(run_id) -> None:
    """After commit, the run's page refreshes."""
    if _reaches_nobody(get_channel_layer()):  # a script's run: after every step, so not even queued
        return
    event = {"type": "run.changed", "run_id": str(run_id)}
    transaction.on_commit(lambda: publish(run_group(run_id), event))
