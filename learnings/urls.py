"""URLs of the learnings API (the pages are in learnings/web_urls.py)."""

from django.urls import path

from learnings.api import areas, effects, exports, learnings, meta_analysis, similar

urlpatterns = [
    path("api/v1/learnings/", learnings.LearningListApi.as_view(), name="learnings"),
    path(
        "api/v1/learnings/similar",
        similar.SimilarLearningsApi.as_view(),
        name="learnings-similar",
    ),
    path(
        "api/v1/learnings/meta-analysis",
        meta_analysis.MetaAnalysisApi.as_view(),
        name="learnings-meta",
    ),
    path("api/v1/learnings/export.csv", exports.ExportCsvApi.as_view(), name="learnings-csv"),
    path("api/v1/learnings/export.md", exports.ExportMarkdownApi.as_view(), name="learnings-md"),
    path(
        "api/v1/learnings/from-experiment",
        learnings.LearningFromExperimentApi.as_view(),
        name="learnings-from-experiment",
    ),
    path(
        "api/v1/learnings/<int:learning_id>/",
        learnings.LearningDetailApi.as_view(),
        name="learning",
    ),
    path(
        "api/v1/learnings/<int:learning_id>/effects",
        effects.LearningEffectsApi.as_view(),
        name="learning-effects",
    ),
    path("api/v1/product-areas/", areas.ProductAreaListApi.as_view(), name="product-areas"),
    path(
        "api/v1/product-areas/<int:area_id>/",
        areas.ProductAreaDetailApi.as_view(),
        name="product-area",
    ),
    path(
        "api/v1/product-areas/<int:area_id>/merge",
        areas.ProductAreaMergeApi.as_view(),
        name="product-area-merge",
    ),
]
