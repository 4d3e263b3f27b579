"""URLs of the experiments API: one module of experiments/api per resource."""

from django.urls import path

from experiments.api import (
    assignment,
    experiments,
    holdouts,
    lifecycle,
    notifications,
    refresh,
    results,
    snapshots,
    stats_calculator,
    templates,
    webhooks,
)

urlpatterns = [
    path("api/v1/stats/analyze", stats_calculator.StatsAnalyzeApi.as_view(), name="stats-analyze"),
    path("api/v1/stats/power", stats_calculator.StatsPowerApi.as_view(), name="stats-power"),
    path("api/v1/experiments/", experiments.ExperimentListApi.as_view(), name="experiments"),
    path(
        "api/v1/experiments/<slug:key>/",
        experiments.ExperimentDetailApi.as_view(),
        name="experiment",
    ),
    path("api/v1/experiments/<slug:key>/start", lifecycle.ExperimentStartApi.as_view()),
    # Templates: a reusable plan (metrics, MDE, runtime, units, settings, decision rule)
    path(
        "api/v1/experiment-templates/",
        templates.TemplateListApi.as_view(),
        name="experiment-templates",
    ),
    path(
        "api/v1/experiment-templates/<slug:key>/",
        templates.TemplateDetailApi.as_view(),
        name="experiment-template",
    ),
    path("api/v1/experiments/<slug:key>/stop", lifecycle.ExperimentStopApi.as_view()),
    path("api/v1/experiments/<slug:key>/conclude", lifecycle.ExperimentConcludeApi.as_view()),
    path("api/v1/experiments/<slug:key>/archive", lifecycle.ExperimentArchiveApi.as_view()),
    path("api/v1/experiments/<slug:key>/assignment", assignment.AssignmentApi.as_view()),
    path(
        "api/features/<str:client_key>",
        assignment.FeaturesPayloadApi.as_view(),
        name="sdk-features",
    ),
    # Analysis and results
    path(
        "api/v1/experiments/<slug:key>/refresh",
        refresh.ExperimentRefreshApi.as_view(),
        name="experiment-refresh",
    ),
    path(
        "api/v1/experiments/<slug:key>/jobs/<int:job_id>",
        refresh.ExperimentJobApi.as_view(),
        name="experiment-job",
    ),
    path(
        "api/v1/experiments/<slug:key>/results",
        results.ExperimentResultsApi.as_view(),
        name="experiment-results",
    ),
    path(
        "api/v1/experiments/<slug:key>/snapshots/<int:snapshot_id>",
        snapshots.ExperimentSnapshotApi.as_view(),
        name="experiment-snapshot",
    ),
    # Workspace holdouts and their cumulative impact
    path("api/v1/holdouts/", holdouts.HoldoutListApi.as_view(), name="holdouts"),
    path("api/v1/holdouts/<slug:key>/", holdouts.HoldoutDetailApi.as_view(), name="holdout"),
    path("api/v1/holdouts/<slug:key>/end", holdouts.HoldoutEndApi.as_view(), name="holdout-end"),
    path(
        "api/v1/holdouts/<slug:key>/report",
        holdouts.HoldoutReportApi.as_view(),
        name="holdout-report",
    ),
    # Alerts
    path(
        "api/v1/notifications/", notifications.NotificationListApi.as_view(), name="notifications"
    ),
    path(
        "api/v1/notifications/read-all",
        notifications.NotificationReadAllApi.as_view(),
        name="notifications-read-all",
    ),
    path(
        "api/v1/notifications/<int:notification_id>/read",
        notifications.NotificationReadApi.as_view(),
        name="notification-read",
    ),
    path("api/v1/webhooks/", webhooks.WebhookListApi.as_view(), name="webhooks"),
    path("api/v1/webhooks/<int:webhook_id>/", webhooks.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "api/v1/webhooks/<int:webhook_id>/rotate-secret",
        webhooks.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "api/v1/webhooks/<int:webhook_id>/deliveries/",
        webhooks.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "api/v1/webhooks/<int:webhook_id>/ping",
        webhooks.WebhookPingApi.as_view(),
        name="webhook-ping",
    ),
]
