"""URLs of the metric layer's API."""

from django.urls import path

from metrics.api import metrics, values

urlpatterns = [
    path("api/v1/metrics/", metrics.MetricListApi.as_view(), name="metrics"),
    path("api/v1/metrics/<slug:key>/", metrics.MetricDetailApi.as_view(), name="metric"),
    path(
        "api/v1/metrics/<slug:key>/values", values.MetricValuesApi.as_view(), name="metric-values"
    ),
]
