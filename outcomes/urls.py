from django.urls import path

from outcomes import apis

urlpatterns = [
    path("api/v1/metrics/", apis.MetricListApi.as_view(), name="metrics"),
    path("api/v1/metrics/<slug:key>/", apis.MetricDetailApi.as_view(), name="metric"),
    path("api/v1/metrics/<slug:key>/values", apis.MetricValuesApi.as_view(), name="metric-values"),
]
