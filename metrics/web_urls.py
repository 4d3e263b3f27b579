"""Pages of the metric layer: metric definitions and event sources (the API is in
``metrics.urls``)."""

from django.urls import path

from metrics import metric_views, views

app_name = "metrics_web"

urlpatterns = [
    path("metrics/", metric_views.metric_list, name="metrics"),
    path("metrics/new", metric_views.metric_new, name="metric-create"),
    path("metrics/new-funnel", metric_views.funnel_new, name="funnel-create"),
    path("metrics/<slug:key>/", metric_views.metric_page, name="metric"),
    path("sources/", views.source_list, name="sources"),
    path("sources/new", views.source_new, name="source-create"),
    path("sources/store-move", views.store_move_page, name="store-move"),
    path("sources/<int:source_id>/", views.source_page, name="source"),
    path("sources/<int:source_id>/dry-run", views.source_dry_run_page, name="source-dry-run"),
    path("sources/<int:source_id>/delete", views.source_delete_page, name="source-delete"),
]
