"""Services mode really talks to PostgreSQL and Redis (run by `make test-services`)."""

import pytest
from channels.layers import get_channel_layer
from django.db import connection

pytestmark = pytest.mark.services


def test_database_is_postgresql(db):
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0].startswith("test_")


@pytest.mark.asyncio
async def test_redis_channel_layer_round_trip():
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    channel = await layer.new_channel()
    await layer.group_add("smoke.services", channel)
    await layer.group_send("smoke.services", {"type": "smoke.ping", "n": 1})
    message = await layer.receive(channel)
    await layer.group_discard("smoke.services", channel)
    assert message == {"type": "smoke.ping", "n": 1}
