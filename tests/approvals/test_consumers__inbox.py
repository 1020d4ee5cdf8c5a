"""The live inbox consumer: pushes the same table the inbox view renders, for its own user only."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from approvals.consumers import InboxConsumer
from tests.factories import UserFactory
from workflows import registry
from workflows.engine import HumanReview, Step, Workflow
from workflows.runtime.broadcast import INBOX_GROUP

from .conftest import signed_in_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

secret = registry.register(
    Workflow(
        name="test_secret_review",
        steps=[
            Step(
                name="salary_change",
                executor=lambda si: "ok",
                human_review=HumanReview(requires_confirmation=True, assignees=["hr_only"]),
            ),
        ],
    )
)


async def connect(user, query=""):
    communicator = WebsocketCommunicator(InboxConsumer.as_asgi(), f"/ws/inbox/?{query}")
    communicator.scope["user"] = user
    if user.is_authenticated:
        communicator.scope["session"] = await database_sync_to_async(signed_in_session)(user)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def changed():
    await get_channel_layer().group_send(
        INBOX_GROUP, {"type": "inbox.changed", "run_ids": ["x"], "requirement_ids": []}
    )


@database_sync_to_async
def person(name, *perms):
    return UserFactory(username=name, permissions=perms)


@database_sync_to_async
def start(name, input="x"):
    return registry.get(name).run(input)


async def test_anonymous_handshake_is_refused():
    communicator, connected, code = await connect(AnonymousUser())
    assert not connected and code == 4401


async def test_new_and_resolved_requirements_are_pushed_to_the_table():
    rita = await person("rita", "resolve_requirement")
    communicator, connected, _ = await connect(rita, "table=1")
    assert connected
    out = await start("data_export")
    await changed()
    html = await communicator.receive_from(timeout=3)
    req = out.active_requirements[0]
    assert 'id="inbox-table" hx-swap-oob="innerHTML"' in html
    assert f'id="req-{req.id}"' in html and "/inbox/" + req.id in html
    assert 'id="inbox-count" hx-swap-oob="true">1<' in html
    # Resolved elsewhere: the next push no longer lists it and the badge empties.
    req.confirm()
    await database_sync_to_async(registry.get("data_export").continue_run)(out)
    await changed()
    html = await communicator.receive_from(timeout=3)
    assert f'id="req-{req.id}"' not in html and "Nothing is waiting for you" in html
    assert '<span id="inbox-count" hx-swap-oob="true"></span>' in html
    await communicator.disconnect()


async def test_pushes_keep_the_pages_filters():
    rita = await person("rita", "resolve_requirement")
    communicator, connected, _ = await connect(rita, "table=1&workflow=trip_planner")
    await start("data_export")
    planned = await start("trip_planner")
    await changed()
    html = await communicator.receive_from(timeout=3)
    assert planned.active_requirements[0].id in html and "data_export" not in html.split("<table", 1)[1]
    await communicator.disconnect()


async def test_nobody_is_sent_what_is_assigned_to_someone_else():
    rita = await person("rita", "resolve_requirement")
    communicator, _, _ = await connect(rita, "table=1")
    out = await start("test_secret_review")
    await changed()
    html = await communicator.receive_from(timeout=3)
    assert out.active_requirements[0].id not in html and "salary_change" not in html
    await communicator.disconnect()


async def test_badge_only_socket_and_ignored_frames():
    rita = await person("rita", "resolve_requirement")
    communicator, connected, _ = await connect(rita)
    await communicator.send_to(text_data='{"action": "confirm", "requirement": "anything"}')
    await communicator.send_to(bytes_data=b"\x00\xff")
    assert await communicator.receive_nothing(timeout=0.2)  # frames change nothing, answer nothing
    await start("data_export")
    await changed()
    html = await communicator.receive_from(timeout=3)
    assert html.strip().startswith('<span class="badge" id="inbox-count" hx-swap-oob="true">1')
    assert "inbox-table" not in html
    await communicator.disconnect()
