from django.urls import path

from experiments.api import stats_calculator, views

urlpatterns = [
    path("api/v1/stats/analyze", stats_calculator.StatsAnalyzeApi.as_view(), name="stats-analyze"),
    path("api/v1/stats/power", stats_calculator.StatsPowerApi.as_view(), name="stats-power"),
    path("api/v1/experiments/", views.ExperimentListApi.as_view(), name="experiments"),
    path("api/v1/experiments/<slug:key>/", views.ExperimentDetailApi.as_view(), name="experiment"),
    path("api/v1/experiments/<slug:key>/start", views.ExperimentStartApi.as_view()),
    path("api/v1/experiments/<slug:key>/stop", views.ExperimentStopApi.as_view()),
    path("api/v1/experiments/<slug:key>/conclude", views.ExperimentConcludeApi.as_view()),
    path("api/v1/experiments/<slug:key>/archive", views.ExperimentArchiveApi.as_view()),
    path("api/v1/experiments/<slug:key>/assignment", views.AssignmentApi.as_view()),
    path("api/features/<str:client_key>", views.FeaturesPayloadApi.as_view(), name="sdk-features"),
    # Analysis and results
    path(
        "api/v1/experiments/<slug:key>/refresh",
        views.ExperimentRefreshApi.as_view(),
        name="experiment-refresh",
    ),
    path(
        "api/v1/experiments/<slug:key>/jobs/<int:job_id>",
        views.ExperimentJobApi.as_view(),
        name="experiment-job",
    ),
    path(
        "api/v1/experiments/<slug:key>/results",
        views.ExperimentResultsApi.as_view(),
        name="experiment-results",
    ),
    path(
        "api/v1/experiments/<slug:key>/snapshots/<int:snapshot_id>",
        views.ExperimentSnapshotApi.as_view(),
        name="experiment-snapshot",
    ),
    # Alerts
    path("api/v1/notifications/", views.NotificationListApi.as_view(), name="notifications"),
    path(
        "api/v1/notifications/read-all",
        views.NotificationReadAllApi.as_view(),
        name="notifications-read-all",
    ),
    path(
        "api/v1/notifications/<int:notification_id>/read",
        views.NotificationReadApi.as_view(),
        name="notification-read",
    ),
    path("api/v1/webhooks/", views.WebhookListApi.as_view(), name="webhooks"),
    path("api/v1/webhooks/<int:webhook_id>/", views.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "api/v1/webhooks/<int:webhook_id>/rotate-secret",
        views.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "api/v1/webhooks/<int:webhook_id>/deliveries/",
        views.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "api/v1/webhooks/<int:webhook_id>/ping",
        views.WebhookPingApi.as_view(),
        name="webhook-ping",
    ),
]
