from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/inbox/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # Each app owns its full paths (/inbox/, /runs/, /workflows/, /api/v1/).
    # Before the workflows app, whose /api/v1/ answers unknown paths with a JSON 404.
    path("api/v1/", include("approvals.api_urls")),
    path("", include("notifications.urls")),  # before workflows': its /api/v1/ ends in a catch-all
    path("", include("workflows.web.urls")),
    path("", include("approvals.urls")),
]

# Under /api/ errors are answered in JSON, also those raised outside the API's views.
handler400 = "workflows.web.api.bad_request"
handler500 = "workflows.web.api.server_error"
