"""Top-level URLs: the platform API, each app's API and pages, admin and OpenAPI docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("plg_platform.api.urls")),
    path("", include("metrics.urls")),
    path("", include("outcomes.urls")),
    path("", include("experiments.urls")),
    path("", include("learnings.urls")),
    path("", include("experiments.web_urls")),
    path("", include("outcomes.web_urls")),
    path("", include("learnings.web_urls")),
    path("", include("metrics.web_urls")),
    path("", include("experiments.results_urls")),
    path("", include("plg_platform.web_urls")),
]

# A database that cannot be reached is a 503 with Retry-After here too, not a 500 page.
handler500 = "plg_platform.exceptions.server_error"
