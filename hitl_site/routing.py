"""The site's websocket routes: each app's own, mounted by hitl_site.asgi under the origin and
auth checks (as hitl_site.urls mounts each app's URLs). A path none of them takes is refused
with close code 4404 (Channels' router would fail the handshake with a server error)."""

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from approvals.routing import websocket_urlpatterns as approvals_routes
from workflows.web.routing import websocket_urlpatterns as workflows_routes


class NoSuchSocket(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=4404)


websocket_urlpatterns = [*workflows_routes, *approvals_routes, re_path(r"", NoSuchSocket.as_asgi())]
