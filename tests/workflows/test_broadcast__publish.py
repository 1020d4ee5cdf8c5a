"""Publishing live updates: after commit, coalesced, one message per group and batch."""

import os
import threading
import time

import pytest

from workflows.runtime import broadcast

# transaction=True: outside a transaction, on_commit sends at once (as a worker's code does).
pytestmark = pytest.mark.django_db(transaction=True)


class RecordingLayer:
    def __init__(self):
        self.sent = []
        self.threads = set()

    async def group_send(self, group, event):
        self.threads.add(threading.current_thread().name)
        self.sent.append((group, event))


@pytest.fixture
def layer(monkeypatch):
    layer = RecordingLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    return layer


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_changes_published_together_go_out_once_per_group(layer):
    broadcast.requirements_changed("r1", ["a"])
    broadcast.requirements_changed("r2", ["b", "c"])
    broadcast.requirements_changed("r1", ["a", "d"])
    broadcast.run_changed("r3")
    wait_for(lambda: len(layer.sent) >= 4)
    time.sleep(3 * broadcast.PUBLISH_COALESCE_SECONDS)  # nothing else follows
    by_group = dict(layer.sent)
    assert len(layer.sent) == len(by_group) == 4  # inbox, run.r1, run.r2, run.r3
    assert by_group[broadcast.INBOX_GROUP] == {
        "type": "inbox.changed",
        "run_ids": ["r1", "r2"],
        "requirement_ids": ["a", "b", "c", "d"],
    }
    assert by_group["run.r1"] == {"type": "run.changed", "run_id": "r1"}
    assert layer.threads == {"hitl-broadcast"}  # sent from the publishing loop, not the caller


def test_later_changes_go_out_in_a_batch_of_their_own(layer):
    broadcast.run_changed("r1")
    wait_for(lambda: len(layer.sent) == 1)
    broadcast.run_changed("r1")
    wait_for(lambda: len(layer.sent) == 2)
    assert layer.sent[0] == layer.sent[1]


def test_nothing_is_published_before_commit_nor_after_a_rollback(layer):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast.run_changed("gone")
        raise RuntimeError
    with transaction.atomic():
        broadcast.run_changed("kept")
        time.sleep(3 * broadcast.PUBLISH_COALESCE_SECONDS)
        assert layer.sent == []
    wait_for(lambda: layer.sent)
    assert layer.sent == [("run.kept", {"type": "run.changed", "run_id": "kept"})]


def test_a_flush_scheduled_on_a_loop_that_stopped_is_scheduled_again(layer, monkeypatch):
    import asyncio

    stopped = asyncio.new_event_loop()  # e.g. a server's loop, gone before its flush ran
    monkeypatch.setitem(broadcast._outbox_state, "pid", os.getpid())
    monkeypatch.setitem(broadcast._outbox_state, "scheduled_on", stopped)
    broadcast.run_changed("r1")
    wait_for(lambda: layer.sent)
    assert layer.sent == [("run.r1", {"type": "run.changed", "run_id": "r1"})]
    stopped.close()
