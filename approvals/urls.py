from django.urls import path

from . import views

app_name = "approvals"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<uuid:requirement_id>/", views.decide, name="decide"),
    path("inbox/<uuid:requirement_id>/next/", views.next_item, name="next"),
]
