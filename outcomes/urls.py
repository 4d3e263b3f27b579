from django.urls import path

from outcomes import apis

urlpatterns = [
    # Metrics (the metric layer).
    path("api/v1/metrics/", apis.MetricListApi.as_view(), name="metrics"),
    path("api/v1/metrics/<slug:key>/", apis.MetricDetailApi.as_view(), name="metric"),
    path("api/v1/metrics/<slug:key>/values", apis.MetricValuesApi.as_view(), name="metric-values"),
    # The KPI library (reads of the cache; recompute on demand).
    path("api/v1/kpis/", apis.KpiCatalogApi.as_view(), name="kpis"),
    path("api/v1/kpis/settings", apis.KpiSettingsApi.as_view(), name="kpi-settings"),
    path("api/v1/kpis/dashboard", apis.KpiDashboardApi.as_view(), name="kpi-dashboard"),
    path("api/v1/kpis/cohort-table", apis.KpiCohortTableApi.as_view(), name="kpi-cohort-table"),
    path(
        "api/v1/kpis/feature-adoption",
        apis.KpiFeatureAdoptionApi.as_view(),
        name="kpi-feature-adoption",
    ),
    path("api/v1/kpis/pqls", apis.PqlListApi.as_view(), name="kpi-pqls"),
    path("api/v1/kpis/pqls.csv", apis.PqlCsvApi.as_view(), name="kpi-pqls-csv"),
    path(
        "api/v1/kpis/feature-requests",
        apis.FeatureRequestListApi.as_view(),
        name="kpi-feature-requests",
    ),
    path("api/v1/kpis/recompute", apis.KpiRecomputeApi.as_view(), name="kpi-recompute"),
    path("api/v1/kpis/jobs/<int:job_id>", apis.KpiJobApi.as_view(), name="kpi-job"),
    path("api/v1/kpis/<slug:kpi>/series", apis.KpiSeriesApi.as_view(), name="kpi-series"),
    # Objectives and key results.
    path("api/v1/objectives/", apis.ObjectiveListApi.as_view(), name="objectives"),
    path("api/v1/objectives/tree", apis.ObjectiveTreeApi.as_view(), name="objective-tree"),
    path(
        "api/v1/objectives/<int:objective_id>/",
        apis.ObjectiveDetailApi.as_view(),
        name="objective",
    ),
    path("api/v1/key-results/", apis.KeyResultListApi.as_view(), name="key-results"),
    path(
        "api/v1/key-results/<int:key_result_id>/",
        apis.KeyResultDetailApi.as_view(),
        name="key-result",
    ),
    path(
        "api/v1/key-results/<int:key_result_id>/baseline",
        apis.KeyResultBaselineApi.as_view(),
        name="key-result-baseline",
    ),
    path(
        "api/v1/key-results/<int:key_result_id>/check-ins/",
        apis.CheckInListApi.as_view(),
        name="key-result-check-ins",
    ),
    path("api/v1/check-ins/<int:check_in_id>/", apis.CheckInDetailApi.as_view(), name="check-in"),
    path("api/v1/initiatives/", apis.InitiativeListApi.as_view(), name="initiatives"),
    path(
        "api/v1/initiatives/<int:initiative_id>/",
        apis.InitiativeDetailApi.as_view(),
        name="initiative",
    ),
]
