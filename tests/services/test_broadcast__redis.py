"""Live updates through the Redis channel layer: groups nobody listens to cost one pipelined
count per batch, not a send each."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from workflows.runtime import broadcast

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_only_groups_someone_listens_to_are_sent_to(monkeypatch):
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(broadcast.run_group("watched"), channel)
    sent = []
    send = layer.group_send

    async def spy(group, event):
        sent.append(group)
        await send(group, event)

    monkeypatch.setattr(layer, "group_send", spy)
    try:
        broadcast.run_changed("unwatched")
        broadcast.run_changed("watched")
        broadcast.requirements_changed("other", ["x"])

        async def receive():
            return await asyncio.wait_for(layer.receive(channel), 5)

        assert async_to_sync(receive)() == {"type": "run.changed", "run_id": "watched"}
        time.sleep(3 * broadcast.PUBLISH_COALESCE_SECONDS)  # the batch is over
        assert broadcast.run_group("watched") in sent
        assert not {broadcast.run_group("unwatched"), broadcast.run_group("other")} & set(sent)
    finally:
        async_to_sync(layer.group_discard)(broadcast.run_group("watched"), channel)
