"""Read-only learnings endpoints beyond search: "have we tried this before?", the
meta-analysis, and exports as CSV or Markdown (both honour the search's query and facets)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.models import Experiment
from learnings.api.serializers import (
    ExportQuerySerializer,
    MetaAnalysisQuerySerializer,
    MetaAnalysisSerializer,
    SimilarOutputSerializer,
    SimilarQuerySerializer,
)
from learnings.api.views import LearningObjectMixin
from learnings.export import learnings_csv, learnings_markdown
from learnings.models import Learning
from learnings.search.faceted import learnings_matching
from learnings.selectors import meta_analysis
from learnings.similarity import similar_learnings

TAGS = ["learnings"]


class SimilarLearningsApi(LearningObjectMixin):
    @extend_schema(
        parameters=[SimilarQuerySerializer],
        responses=SimilarOutputSerializer(many=True),
        tags=TAGS,
        summary="Have we tried this before? Past learnings most similar to a draft hypothesis",
    )
    def get(self, request: Request) -> Response:
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        exclude: tuple[int, ...] = ()
        if data["exclude_experiment"]:
            exclude = tuple(
                Learning.objects.filter(
                    workspace=self.workspace,
                    experiment__in=Experiment.objects.filter(
                        workspace=self.workspace, key=data["exclude_experiment"]
                    ),
                ).values_list("pk", flat=True)
            )
        results = similar_learnings(
            workspace=self.workspace,
            hypothesis=data["hypothesis"],
            product_area=self.area_or_none(data["product_area"]),
            limit=data["limit"],
            exclude_ids=exclude,
        )
        return Response(SimilarOutputSerializer(results, many=True).data)


class MetaAnalysisApi(LearningObjectMixin):
    @extend_schema(
        parameters=[MetaAnalysisQuerySerializer],
        responses=MetaAnalysisSerializer,
        tags=TAGS,
        summary="Win rate, average and cumulative impact (raw and shrunk) by a tag",
    )
    def get(self, request: Request) -> Response:
        query = MetaAnalysisQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        result = meta_analysis(
            workspace=self.workspace,
            group_by=data["group_by"],
            query=data["q"],
            filters=query.filters(),
            method=data["method"],
        )
        return Response(MetaAnalysisSerializer(result).data)


class _ExportApi(LearningObjectMixin, ABC):
    content_type = ""
    extension = ""

    @abstractmethod
    def render(self, learnings) -> str:
        """Return the learnings as the export's text."""

    def get(self, request: Request) -> HttpResponse:
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        learnings = (
            learnings_matching(
                workspace=self.workspace, query=query.validated_data["q"], filters=query.filters()
            )
            .select_related("product_area", "experiment")
            .prefetch_related("tag_links", "key_results")
        )
        response = HttpResponse(self.render(learnings), content_type=self.content_type)
        stamp = timezone.now().strftime("%Y%m%d")
        filename = f"learnings-{self.workspace.slug}-{stamp}.{self.extension}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ExportCsvApi(_ExportApi):
    content_type = "text/csv; charset=utf-8"
    extension = "csv"

    def render(self, learnings) -> str:
        return learnings_csv(learnings)

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
        tags=TAGS,
        summary="Export the learnings a search selects as CSV",
    )
    def get(self, request: Request) -> HttpResponse:
        return super().get(request)


class ExportMarkdownApi(_ExportApi):
    content_type = "text/markdown; charset=utf-8"
    extension = "md"

    def render(self, learnings) -> str:
        return learnings_markdown(learnings, title=f"Learnings: {self.workspace.name}")

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={(200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR)},
        tags=TAGS,
        summary="Export the learnings a search selects as Markdown",
    )
    def get(self, request: Request) -> HttpResponse:
        return super().get(request)
