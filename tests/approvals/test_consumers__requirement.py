"""The decision page's live consumer: visible requirements only; a claim, a decision or a
cancellation by someone else is pushed (who, when) and the form goes; a comment is pushed without
touching the form."""

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from hitl_site.routing import websocket_urlpatterns
from tests.factories import UserFactory
from workflows import registry, services
from workflows.models import Requirement
from workflows.runtime.broadcast import run_group

from .conftest import signed_in_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(user, requirement_id):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/requirements/{requirement_id}/")
    communicator.scope["user"] = user
    if user.is_authenticated:
        communicator.scope["session"] = await database_sync_to_async(signed_in_session)(user)
    connected, code = await communicator.connect()
    return communicator, connected, code


@database_sync_to_async
def setup():
    alice = UserFactory(username="alice", permissions=["resolve_requirement"])
    bob = UserFactory(username="bob", permissions=["resolve_requirement"])
    owner = UserFactory(username="olga", permissions=["start_run", "cancel_run", "view_workflowrun"])
    stranger = UserFactory(username="sam")
    run_id = registry.get("data_export").run("crm", user=owner).run_id
    req = Requirement.objects.get(run_id=run_id, status="PENDING")
    return alice, bob, owner, stranger, req


async def changed(req):
    await get_channel_layer().group_send(run_group(req.run_id), {"type": "run.changed", "run_id": str(req.run_id)})


async def test_only_people_who_may_see_the_requirement_connect():
    alice, _, _, stranger, req = await setup()
    assert (await connect(AnonymousUser(), req.id))[1:] == (False, 4401)
    assert (await connect(stranger, req.id))[1:] == (False, 4404)
    assert (await connect(alice, uuid.uuid4()))[1:] == (False, 4404)


async def test_a_claim_by_someone_else_is_pushed_and_the_form_goes():
    alice, bob, _, _, req = await setup()
    communicator, connected, _ = await connect(alice, req.id)
    assert connected
    await database_sync_to_async(services.requirement_claim)(requirement_id=req.id, user=bob)
    await changed(req)
    html = await communicator.receive_from(timeout=3)
    assert '<section id="team-live"' in html and "hx-swap-oob" in html
    assert '<section id="decision-panel"' in html
    panel = html[html.index('<section id="decision-panel"') :]
    assert "Claimed by <strong>bob</strong>" in panel and 'value="confirm"' not in panel
    # a comment next: the team part only (the form, and what the user typed, stay)
    await database_sync_to_async(services.requirement_comment_add)(requirement_id=req.id, user=bob, text="on it")
    await changed(req)
    html = await communicator.receive_from(timeout=3)
    assert "on it" in html and '<section id="decision-panel"' not in html
    await communicator.disconnect()


async def test_a_decision_or_cancellation_by_someone_else_is_pushed():
    alice, bob, owner, _, req = await setup()
    communicator, connected, _ = await connect(alice, req.id)
    assert connected
    await database_sync_to_async(services.run_cancel)(run_id=req.run_id, user=owner)
    await changed(req)
    html = await communicator.receive_from(timeout=3)
    panel = html[html.index('<section id="decision-panel"') :]
    assert "Cancelled" in panel and "olga" in panel and 'value="confirm"' not in panel
    await communicator.disconnect()


async def test_a_user_who_loses_sight_of_it_is_closed():
    alice, bob, _, _, req = await setup()
    communicator, connected, _ = await connect(bob, req.id)
    assert connected
    await database_sync_to_async(services.requirement_claim)(requirement_id=req.id, user=alice)
    from django.contrib.auth.models import User

    await database_sync_to_async(
        lambda: services.requirement_reassign(
            requirement_id=req.id, user=User.objects.get(username="alice"), to_user=User.objects.get(username="alice")
        )
    )()
    await changed(req)
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close" and output["code"] == 4403


async def test_presence_says_who_else_is_looking():
    alice, bob, _, _, req = await setup()
    first, connected, _ = await connect(alice, req.id)
    assert connected
    second, connected, _ = await connect(bob, req.id)
    assert connected
    assert "Also looking: bob" in await first.receive_from(timeout=3)
    assert "Also looking: alice" in await second.receive_from(timeout=3)
    await second.disconnect()
    html = await first.receive_from(timeout=3)
    assert '<p id="presence"' in html and "Also looking" not in html
    await first.disconnect()
