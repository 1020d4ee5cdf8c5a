from django.urls import path

from . import views

app_name = "approvals"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/bulk/", views.inbox_bulk, name="bulk"),
    path("inbox/<uuid:requirement_id>/", views.decide, name="decide"),
    path("inbox/<uuid:requirement_id>/claim/", views.claim, name="claim"),
    path("inbox/<uuid:requirement_id>/release/", views.release, name="release"),
    path("inbox/<uuid:requirement_id>/reassign/", views.reassign, name="reassign"),
    path("inbox/<uuid:requirement_id>/comments/", views.comment, name="comment"),
    path("inbox/<uuid:requirement_id>/next/", views.next_item, name="next"),
]
