"""URLs of the notifications app: its part of the JSON API (/api/v1/webhooks)."""

from django.urls import path

from . import api

app_name = "notifications"

urlpatterns = [
    path("api/v1/webhooks", api.webhooks, name="api-webhooks"),
    path("api/v1/webhooks/<str:webhook_id>", api.webhook_detail, name="api-webhook"),
]
