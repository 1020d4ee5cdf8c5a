"""Websocket routes, mounted by hitl_site.asgi under the origin and auth checks."""

from django.urls import path

from approvals.consumers import InboxConsumer, RequirementConsumer, RunConsumer

websocket_urlpatterns = [
    path("ws/inbox/", InboxConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunConsumer.as_asgi()),
    path("ws/requirements/<uuid:requirement_id>/", RequirementConsumer.as_asgi()),
]
