"""URLs of the workflows app: run pages, the workflow catalogue, and the JSON API (/api/v1/)."""

from django.urls import include, path, re_path

from . import api, views

app_name = "workflows"

api_patterns = [
    path("runs", api.runs, name="api-runs"),
    path("runs/export", api.runs_export, name="api-runs-export"),
    path("runs/<str:run_id>", api.run_detail, name="api-run"),
    path("runs/<str:run_id>/cancel", api.run_cancel, name="api-run-cancel"),
    path("runs/<str:run_id>/rerun", api.run_rerun, name="api-run-rerun"),
    path("analytics", api.analytics_figures, name="api-analytics"),
    path("requirements", api.requirements, name="api-requirements"),
    path("requirements/bulk", api.requirements_bulk, name="api-requirements-bulk"),
    path("requirements/<str:requirement_id>", api.requirement_detail, name="api-requirement"),
    path("requirements/<str:requirement_id>/resolve", api.requirement_resolve, name="api-requirement-resolve"),
    path("requirements/<str:requirement_id>/claim", api.requirement_claim, name="api-requirement-claim"),
    path("requirements/<str:requirement_id>/release", api.requirement_release, name="api-requirement-release"),
    path("requirements/<str:requirement_id>/reassign", api.requirement_reassign, name="api-requirement-reassign"),
    path("requirements/<str:requirement_id>/comments", api.requirement_comments, name="api-requirement-comments"),
    path("openapi.json", api.openapi, name="api-openapi"),
    re_path(r"^.*$", api.not_found),
]

urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    re_path(r"^runs/export\.(?P<fmt>csv|json)$", views.run_export, name="run-export"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<uuid:run_id>/live/", views.run_live, name="run-live"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("analytics/", views.analytics_page, name="analytics"),
    path("workflows/", views.workflow_list, name="workflow-list"),
    path("workflows/<str:name>/", views.workflow_detail, name="workflow-detail"),
    path("api/v1/", include(api_patterns)),
]
