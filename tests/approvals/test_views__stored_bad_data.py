"""Rows that already hold text no page can encode (a lone UTF-16 surrogate, stored before input was
checked, or written by a step) still render: pages, the live fragment, the admin and the run
socket show U+FFFD in its place instead of failing with a 500 or closing the socket with 1011.

SQLite keeps such text inside JSON as an escape (``"\\ud800"``); PostgreSQL refuses to store it at
all, so there the test checks that refusal instead (the pages can never meet such a row).
"""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import DataError, connection, transaction
from django.urls import reverse

from hitl_site.routing import websocket_urlpatterns
from tests.factories import UserFactory
from workflows.models import Requirement, RunEvent, StepRun, WorkflowRun
from workflows.runtime.broadcast import run_group

from .conftest import pending, signed_in_session

LONE = "bad \ud800 text"


def _store_lone_surrogates(req: Requirement) -> None:
    """Write the bad text straight into the rows, as data stored before the checks would be."""
    Requirement.objects.filter(id=req.id).update(payload={**req.payload, "output": LONE}, resolution={"feedback": LONE})
    WorkflowRun.objects.filter(id=req.run_id).update(input=LONE, additional_data={"note": LONE}, content=LONE)
    StepRun.objects.filter(run_id=req.run_id).update(output=LONE)
    RunEvent.objects.filter(run_id=req.run_id).update(data={"content": LONE})


def _stored(req: Requirement) -> bool:
    if connection.vendor == "sqlite":
        _store_lone_surrogates(req)
        return True
    with pytest.raises(DataError), transaction.atomic():
        _store_lone_surrogates(req)
    return False


@pytest.mark.django_db
def test_pages_holding_a_lone_surrogate_still_render(admin_client, reviewer_client):
    req = pending("blog_post", "draft")  # output_review: the output is shown on the page
    if not _stored(req):
        return
    pages = [
        (reviewer_client, reverse("approvals:decide", args=[req.id])),
        (reviewer_client, reverse("approvals:decide", args=[req.id]) + "?edit=1"),
        (reviewer_client, reverse("approvals:inbox")),
        (admin_client, reverse("workflows:run-detail", args=[req.run_id])),
        (admin_client, reverse("workflows:run-live", args=[req.run_id])),
        (admin_client, reverse("workflows:run-list")),
        (admin_client, reverse("admin:workflows_workflowrun_change", args=[req.run_id])),
        (admin_client, reverse("admin:workflows_requirement_change", args=[req.id])),
        (admin_client, reverse("admin:workflows_workflowrun_changelist")),
        (admin_client, reverse("admin:workflows_requirement_changelist")),
        (admin_client, reverse("admin:workflows_runevent_changelist")),
        (admin_client, reverse("admin:workflows_steprun_changelist")),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "\ufffd" in response.content.decode() or "admin" in url or "inbox" in url, url
    api = admin_client.get(reverse("workflows:api-run", args=[req.run_id]))
    assert api.status_code == 200


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_run_socket_pushes_a_run_holding_a_lone_surrogate():
    @database_sync_to_async
    def setup():
        admin = UserFactory(username="ada", superuser=True)
        req = pending("blog_post", "draft")
        return admin, req, _stored(req)

    admin, req, stored = await setup()
    if not stored:
        return
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{req.run_id}/")
    communicator.scope["user"] = admin
    communicator.scope["session"] = await database_sync_to_async(signed_in_session)(admin)
    connected, _ = await communicator.connect()
    assert connected
    group = run_group(str(req.run_id))
    await get_channel_layer().group_send(group, {"type": "run.changed", "run_id": str(req.run_id)})
    html = await communicator.receive_from(timeout=3)
    assert "run-live" in html
    html.encode()  # encodable: what the socket sends
    await communicator.disconnect()
