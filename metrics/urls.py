"""URLs of the metric layer's API: metric definitions and event sources."""

from django.urls import path

from metrics.api import metrics, sources, store_moves, values

urlpatterns = [
    path("api/v1/metrics/", metrics.MetricListApi.as_view(), name="metrics"),
    path("api/v1/metrics/<slug:key>/", metrics.MetricDetailApi.as_view(), name="metric"),
    path(
        "api/v1/metrics/<slug:key>/values", values.MetricValuesApi.as_view(), name="metric-values"
    ),
    path("api/v1/sources/", sources.SourceListApi.as_view(), name="sources"),
    path("api/v1/sources/<int:source_id>/", sources.SourceDetailApi.as_view(), name="source"),
    path(
        "api/v1/sources/<int:source_id>/dry-run/",
        sources.SourceDryRunApi.as_view(),
        name="source-dry-run",
    ),
    path(
        "api/v1/event-store/moves/",
        store_moves.StoreMoveListApi.as_view(),
        name="event-store-moves",
    ),
    path(
        "api/v1/event-store/moves/<int:job_id>/",
        store_moves.StoreMoveDetailApi.as_view(),
        name="event-store-move",
    ),
]
