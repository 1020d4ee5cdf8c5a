"""The run page's live consumer: visible runs only; each change pushes the page's live part."""

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
from workflows.runtime.broadcast import run_group

from .conftest import signed_in_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(user, run_id):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run_id}/")
    communicator.scope["user"] = user
    if user.is_authenticated:
        communicator.scope["session"] = await database_sync_to_async(signed_in_session)(user)
    connected, code = await communicator.connect()
    return communicator, connected, code


@database_sync_to_async
def setup():
    owner = UserFactory(username="olga", permissions=["start_run", "view_workflowrun", "cancel_run"])
    stranger = UserFactory(username="sam")
    run_id = registry.get("data_export").run("crm", user=owner).run_id
    return owner, stranger, run_id


async def test_only_people_who_may_see_the_run_connect():
    owner, stranger, run_id = await setup()
    assert (await connect(AnonymousUser(), run_id))[1:] == (False, 4401)
    assert (await connect(stranger, run_id))[1:] == (False, 4404)
    assert (await connect(owner, uuid.uuid4()))[1:] == (False, 4404)


async def test_a_change_pushes_the_live_part():
    owner, _, run_id = await setup()
    communicator, connected, _ = await connect(owner, run_id)
    assert connected
    await database_sync_to_async(services.run_cancel)(run_id=run_id, user=owner)
    await get_channel_layer().group_send(run_group(run_id), {"type": "run.changed", "run_id": run_id})
    html = await communicator.receive_from(timeout=3)
    assert html.lstrip().startswith('<div id="run-live" hx-swap-oob="true"')
    assert "Cancelled" in html and "hx-trigger" not in html  # finished: no more polling either
    await communicator.disconnect()


async def test_forms_of_the_pushed_part_carry_a_csrf_token_for_the_page_cookie():
    """A Cancel or Rerun form that arrives over the socket must still pass the CSRF check."""
    from django.middleware.csrf import _unmask_cipher_token, get_token
    from django.test import RequestFactory

    owner, _, run_id = await setup()
    secret = _unmask_cipher_token(get_token(RequestFactory().get("/")))
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run_id}/")
    communicator.scope["user"] = owner
    communicator.scope["session"] = await database_sync_to_async(signed_in_session)(owner)
    communicator.scope["cookies"] = {"csrftoken": secret}
    assert (await communicator.connect())[0]
    await database_sync_to_async(services.run_cancel)(run_id=run_id, user=owner)
    await get_channel_layer().group_send(run_group(run_id), {"type": "run.changed", "run_id": run_id})
    html = await communicator.receive_from(timeout=3)
    assert ">Rerun</button>" in html
    [token] = [part.split('"')[0] for part in html.split('name="csrfmiddlewaretoken" value="')[1:]]
    assert _unmask_cipher_token(token) == secret
    await communicator.disconnect()


async def test_a_malformed_csrf_cookie_gives_an_empty_token_not_an_error():
    owner, _, run_id = await setup()
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run_id}/")
    communicator.scope["user"] = owner
    communicator.scope["session"] = await database_sync_to_async(signed_in_session)(owner)
    communicator.scope["cookies"] = {"csrftoken": "!" * 32}
    assert (await communicator.connect())[0]
    await database_sync_to_async(services.run_cancel)(run_id=run_id, user=owner)
    await get_channel_layer().group_send(run_group(run_id), {"type": "run.changed", "run_id": run_id})
    html = await communicator.receive_from(timeout=3)
    assert ">Rerun</button>" in html
    await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/runs/not-a-uuid/", "/ws/requirements/zz/", "/ws/nothing/"])
async def test_a_path_no_socket_serves_is_refused_not_an_error(path):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4404)
