"""Live sockets follow the session: after a logout, a deactivation, a password change or lost
permissions, the next broadcast closes the socket instead of rendering for that user."""

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from hitl_site.routing import websocket_urlpatterns
from tests.factories import GroupFactory, UserFactory
from workflows import registry
from workflows.runtime.broadcast import INBOX_GROUP, run_group

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class Browser:
    """A signed-in browser: its session cookie opens sockets through the real auth middleware."""

    def __init__(self, client):
        self.client = client

    @classmethod
    async def signed_in(cls, user):
        client = Client()
        await database_sync_to_async(client.force_login)(user)
        return cls(client)

    async def open(self, path):
        cookie = f"sessionid={self.client.cookies['sessionid'].value}".encode()
        communicator = WebsocketCommunicator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), path, headers=[(b"cookie", cookie)]
        )
        connected, code = await communicator.connect()
        assert connected, code
        return communicator

    async def log_out(self):
        response = await database_sync_to_async(self.client.post)("/accounts/logout/")
        assert response.status_code == 302


async def inbox_changed():
    await get_channel_layer().group_send(INBOX_GROUP, {"type": "inbox.changed", "run_ids": [], "requirement_ids": []})


async def run_changed(run_id):
    await get_channel_layer().group_send(run_group(run_id), {"type": "run.changed", "run_id": str(run_id)})


async def closed_with(communicator) -> int:
    message = await communicator.receive_output(timeout=3)
    assert message["type"] == "websocket.close", message
    return message["code"]


@database_sync_to_async
def reviewer_with_a_pending_requirement():
    user = UserFactory(username="rita", permissions=["resolve_requirement"])
    registry.get("data_export").run("crm")
    return user


@database_sync_to_async
def update(user, **fields):
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()


async def test_inbox_socket_pushes_while_signed_in_and_closes_after_logout():
    rita = await reviewer_with_a_pending_requirement()
    browser = await Browser.signed_in(rita)
    socket = await browser.open("/ws/inbox/?table=1")
    await inbox_changed()
    assert "data_export" in await socket.receive_from(timeout=3)
    await browser.log_out()
    await inbox_changed()
    assert await closed_with(socket) == 4401


async def test_inbox_socket_closes_when_the_user_is_deactivated():
    rita = await reviewer_with_a_pending_requirement()
    socket = await (await Browser.signed_in(rita)).open("/ws/inbox/?table=1")
    await update(rita, is_active=False)
    await inbox_changed()
    assert await closed_with(socket) == 4401


async def test_inbox_socket_closes_when_the_password_changes():
    rita = await reviewer_with_a_pending_requirement()
    socket = await (await Browser.signed_in(rita)).open("/ws/inbox/")
    await database_sync_to_async(rita.set_password)("new-password")
    await update(rita)
    await inbox_changed()
    assert await closed_with(socket) == 4401


async def test_inbox_socket_closes_when_the_permission_is_withdrawn():
    rita = await reviewer_with_a_pending_requirement()
    socket = await (await Browser.signed_in(rita)).open("/ws/inbox/?table=1")
    await database_sync_to_async(rita.user_permissions.clear)()
    await inbox_changed()
    assert await closed_with(socket) == 4403


async def test_inbox_socket_closes_when_the_group_is_left():
    @database_sync_to_async
    def member():
        group = GroupFactory(name="reviewers", permissions=["resolve_requirement"])
        user = UserFactory(username="gus", groups=[group])
        registry.get("data_export").run("crm")
        return user, group

    gus, group = await member()
    socket = await (await Browser.signed_in(gus)).open("/ws/inbox/?table=1")
    await inbox_changed()
    assert "data_export" in await socket.receive_from(timeout=3)
    await database_sync_to_async(gus.groups.remove)(group)
    await inbox_changed()
    assert await closed_with(socket) == 4403


@database_sync_to_async
def watcher_of_a_run():
    user = UserFactory(username="vic", permissions=["view_workflowrun"])
    return user, registry.get("data_export").run("crm").run_id


async def test_run_socket_closes_after_logout():
    vic, run_id = await watcher_of_a_run()
    browser = await Browser.signed_in(vic)
    socket = await browser.open(f"/ws/runs/{run_id}/")
    await run_changed(run_id)
    assert 'id="run-live"' in await socket.receive_from(timeout=3)
    await browser.log_out()
    await run_changed(run_id)
    assert await closed_with(socket) == 4401


async def test_run_socket_closes_when_the_run_is_no_longer_visible():
    vic, run_id = await watcher_of_a_run()
    socket = await (await Browser.signed_in(vic)).open(f"/ws/runs/{run_id}/")
    await database_sync_to_async(vic.user_permissions.clear)()
    await run_changed(run_id)
    assert await closed_with(socket) == 4403


async def test_run_socket_closes_when_the_user_is_deactivated():
    vic, run_id = await watcher_of_a_run()
    socket = await (await Browser.signed_in(vic)).open(f"/ws/runs/{run_id}/")
    await update(vic, is_active=False)
    await run_changed(run_id)
    assert await closed_with(socket) == 4401
