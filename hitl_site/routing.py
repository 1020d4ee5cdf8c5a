"""The site's websocket routes: each app's own, mounted by hitl_site.asgi under the origin and
auth checks (as hitl_site.urls mounts each app's URLs)."""

from approvals.routing import websocket_urlpatterns as approvals_routes
from workflows.web.routing import websocket_urlpatterns as workflows_routes

websocket_urlpatterns = [*workflows_routes, *approvals_routes]
