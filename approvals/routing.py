"""Websocket routes, mounted by hitl_site.asgi under the origin and auth checks."""

websocket_urlpatterns: list = []
