from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/inbox/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # Each app owns its full paths (/inbox/, /runs/, /workflows/, /api/v1/).
    path("", include("notifications.urls")),  # before workflows': its /api/v1/ ends in a catch-all
    path("", include("workflows.urls")),
    path("", include("approvals.urls")),
]
