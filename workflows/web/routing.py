"""Websocket routes of the workflows app (mounted by hitl_site.routing)."""

from django.urls import path

from .consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<uuid:run_id>/", RunConsumer.as_asgi()),
]
