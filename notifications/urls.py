"""URLs of the notifications app: its part of the JSON API (/api/v1/webhooks), the confirm page
of decide-from-the-message links (/inbox/<id>/act/<token>/)."""

from django.urls import path

from . import api, views

app_name = "notifications"

urlpatterns = [
    path("api/v1/webhooks", api.webhooks, name="api-webhooks"),
    path("api/v1/webhooks/<str:webhook_id>", api.webhook_detail, name="api-webhook"),
    path("inbox/<uuid:requirement_id>/act/<str:token>/", views.act, name="act"),
    path("settings/notifications/", views.preferences, name="preferences"),
]
