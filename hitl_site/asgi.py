"""ASGI entry point: HTTP through Django, websockets through Channels.

Serve with `daphne hitl_site.asgi:application` (both modes).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_site.settings")

# Set up Django before importing anything that touches models (routing, consumers).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from hitl_site.limits import BodyLimitMiddleware, bound_daphne_requests  # noqa: E402
from hitl_site.routing import websocket_urlpatterns  # noqa: E402

# Bodies over HITL_MAX_BODY_BYTES, or too slow, are refused before they are read: in daphne
# (which otherwise reads every body whole before the application sees the request), and in
# ASGI terms for any other server.
bound_daphne_requests()
http_app = BodyLimitMiddleware(django_asgi_app)
if settings.DEBUG:
    # Plain daphne serves no static files; in DEBUG serve them like runserver does.
    http_app = ASGIStaticFilesHandler(http_app)
if settings.HITL_EMBEDDED:
    # Embedded mode: the process that serves also runs the workflows and fires timeouts, in
    # threads of its own (a request never waits for a step). Started when the server starts,
    # or at the latest with the first request.
    from workflows.runtime import worker  # noqa: E402

    worker.start_when_serving()
    http_app = worker.serving(http_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Origin must match ALLOWED_HOSTS: blocks cross-site websocket hijacking.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
