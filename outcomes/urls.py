"""URLs of the outcomes API: the KPI library and OKRs (the metric API is in ``metrics.urls``)."""

from django.urls import path

from outcomes.kpis.api import (
    adoption,
    catalog,
    cohorts,
    dashboard,
    feature_requests,
    jobs,
    pqls,
    series,
    settings,
)
from outcomes.okrs.api import check_ins, initiatives, key_results, objectives

urlpatterns = [
    # The KPI library (reads of the cache; recompute on demand).
    path("api/v1/kpis/", catalog.KpiCatalogApi.as_view(), name="kpis"),
    path("api/v1/kpis/settings", settings.KpiSettingsApi.as_view(), name="kpi-settings"),
    path("api/v1/kpis/dashboard", dashboard.KpiDashboardApi.as_view(), name="kpi-dashboard"),
    path("api/v1/kpis/cohort-table", cohorts.KpiCohortTableApi.as_view(), name="kpi-cohort-table"),
    path(
        "api/v1/kpis/feature-adoption",
        adoption.KpiFeatureAdoptionApi.as_view(),
        name="kpi-feature-adoption",
    ),
    path("api/v1/kpis/pqls", pqls.PqlListApi.as_view(), name="kpi-pqls"),
    path("api/v1/kpis/pqls.csv", pqls.PqlCsvApi.as_view(), name="kpi-pqls-csv"),
    path(
        "api/v1/kpis/feature-requests",
        feature_requests.FeatureRequestListApi.as_view(),
        name="kpi-feature-requests",
    ),
    path("api/v1/kpis/recompute", jobs.KpiRecomputeApi.as_view(), name="kpi-recompute"),
    path("api/v1/kpis/jobs/<int:job_id>", jobs.KpiJobApi.as_view(), name="kpi-job"),
    path("api/v1/kpis/<slug:kpi>/series", series.KpiSeriesApi.as_view(), name="kpi-series"),
    # Objectives and key results.
    path("api/v1/objectives/", objectives.ObjectiveListApi.as_view(), name="objectives"),
    path("api/v1/objectives/tree", objectives.ObjectiveTreeApi.as_view(), name="objective-tree"),
    path(
        "api/v1/objectives/<int:objective_id>/",
        objectives.ObjectiveDetailApi.as_view(),
        name="objective",
    ),
    path("api/v1/key-results/", key_results.KeyResultListApi.as_view(), name="key-results"),
    path(
        "api/v1/key-results/<int:key_result_id>/",
        key_results.KeyResultDetailApi.as_view(),
        name="key-result",
    ),
    path(
        "api/v1/key-results/<int:key_result_id>/baseline",
        key_results.KeyResultBaselineApi.as_view(),
        name="key-result-baseline",
    ),
    path(
        "api/v1/key-results/<int:key_result_id>/check-ins/",
        check_ins.CheckInListApi.as_view(),
        name="key-result-check-ins",
    ),
    path(
        "api/v1/check-ins/<int:check_in_id>/", check_ins.CheckInDetailApi.as_view(), name="check-in"
    ),
    path("api/v1/initiatives/", initiatives.InitiativeListApi.as_view(), name="initiatives"),
    path(
        "api/v1/initiatives/<int:initiative_id>/",
        initiatives.InitiativeDetailApi.as_view(),
        name="initiative",
    ),
]
