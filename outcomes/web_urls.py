"""Pages of the outcomes app: the OKR board and the KPI dashboard (the API is in
``outcomes.urls``)."""

from django.urls import path
from django.views.generic import RedirectView

from outcomes.kpis import views as kpis
from outcomes.okrs.views import key_results, objectives

app_name = "outcomes_web"

urlpatterns = [
    path("outcomes/", RedirectView.as_view(pattern_name="outcomes_web:board"), name="index"),
    # Objectives and key results.
    path("okrs/", objectives.board, name="board"),
    path("okrs/objectives/new", objectives.objective_new, name="objective-create"),
    path(
        "okrs/objectives/<int:objective_id>/edit", objectives.objective_edit, name="objective-edit"
    ),
    path(
        "okrs/objectives/<int:objective_id>/key-results/new",
        objectives.key_result_new,
        name="key-result-create",
    ),
    path("okrs/key-results/<int:key_result_id>/", key_results.key_result_page, name="key-result"),
    path(
        "okrs/key-results/<int:key_result_id>/edit",
        key_results.key_result_edit,
        name="key-result-edit",
    ),
    path(
        "okrs/key-results/<int:key_result_id>/check-ins",
        key_results.check_in_new,
        name="check-in-create",
    ),
    path(
        "okrs/key-results/<int:key_result_id>/baseline",
        key_results.baseline_change,
        name="baseline-change",
    ),
    path(
        "okrs/key-results/<int:key_result_id>/initiatives",
        key_results.initiative_new,
        name="initiative-create",
    ),
    path(
        "okrs/key-results/<int:key_result_id>/measure",
        key_results.key_result_measure,
        name="key-result-measure",
    ),
    # The KPI library.
    path("kpis/", kpis.kpi_dashboard_page, name="kpis"),
    path("kpis/recompute", kpis.kpi_recompute, name="kpi-recompute"),
    path("kpis/settings", kpis.kpi_settings_page, name="kpi-settings"),
    path("kpis/pqls/", kpis.pql_list, name="pqls"),
]
