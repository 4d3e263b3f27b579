"""URLs of the learnings API (the pages are in learnings/web_urls.py)."""

from django.urls import path

from learnings.api import insights, views

urlpatterns = [
    path("api/v1/learnings/", views.LearningListApi.as_view(), name="learnings"),
    path(
        "api/v1/learnings/similar",
        insights.SimilarLearningsApi.as_view(),
        name="learnings-similar",
    ),
    path(
        "api/v1/learnings/meta-analysis",
        insights.MetaAnalysisApi.as_view(),
        name="learnings-meta",
    ),
    path("api/v1/learnings/export.csv", insights.ExportCsvApi.as_view(), name="learnings-csv"),
    path("api/v1/learnings/export.md", insights.ExportMarkdownApi.as_view(), name="learnings-md"),
    path(
        "api/v1/learnings/from-experiment",
        views.LearningFromExperimentApi.as_view(),
        name="learnings-from-experiment",
    ),
    path("api/v1/learnings/<int:learning_id>/", views.LearningDetailApi.as_view(), name="learning"),
    path(
        "api/v1/learnings/<int:learning_id>/effects",
        views.LearningEffectsApi.as_view(),
        name="learning-effects",
    ),
    path("api/v1/product-areas/", views.ProductAreaListApi.as_view(), name="product-areas"),
    path(
        "api/v1/product-areas/<int:area_id>/",
        views.ProductAreaDetailApi.as_view(),
        name="product-area",
    ),
    path(
        "api/v1/product-areas/<int:area_id>/merge",
        views.ProductAreaMergeApi.as_view(),
        name="product-area-merge",
    ),
]
