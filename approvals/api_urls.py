"""The reviewer app's routes under ``/api/v1/`` (mounted before the workflows app's catch-all)."""

from django.urls import path

from . import api

app_name = "approvals-api"

urlpatterns = [
    path("decisions/export", api.decisions_export, name="decisions-export"),
]
