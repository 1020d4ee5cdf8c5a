"""Live updates: after commit, tell open pages (over Channels) that something changed.

Broadcasts carry ids only; each consumer re-renders for its own user.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("workflows")

INBOX_GROUP = "inbox"


def run_group(run_id) -> str:
    return f"run.{run_id}"


def publish(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(layer.group_send)(group, event)
        else:  # called from sync code running inside an event loop's thread: hand it to the loop
            loop.create_task(layer.group_send(group, event))
    except Exception:  # a push is best effort: pages also refresh on load
        log.warning("broadcast to %s failed", group, exc_info=True)


def publish_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: publish(group, event))


def requirements_changed(run_id, requirement_ids=()) -> None:
    """Inboxes and the run's page refresh the given requirements (created, resolved, expired)."""
    ids = [str(i) for i in requirement_ids]
    publish_on_commit(INBOX_GROUP, {"type": "inbox.changed", "run_id": str(run_id), "requirement_ids": ids})
    publish_on_commit(run_group(run_id), {"type": "run.changed", "run_id": str(run_id)})


def run_changed(run_id) -> None:
    publish_on_commit(run_group(run_id), {"type": "run.changed", "run_id": str(run_id)})
