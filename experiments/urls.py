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
]
