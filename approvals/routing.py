"""Websocket routes of the approvals app (mounted by hitl_site.routing)."""

from django.urls import path

from approvals.consumers import InboxConsumer, RequirementConsumer

websocket_urlpatterns = [
    path("ws/inbox/", InboxConsumer.as_asgi()),
    path("ws/requirements/<uuid:requirement_id>/", RequirementConsumer.as_asgi()),
]
