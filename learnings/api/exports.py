"""Exports of the learnings that match a search, as CSV or Markdown."""

from __future__ import annotations

from abc import ABC, abstractmethod

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from learnings.api.search import SearchQuerySerializer
from learnings.api.shared import TAGS, LearningObjectMixin
from learnings.export import learnings_csv, learnings_markdown
from learnings.search.faceted import learnings_matching


class ExportQuerySerializer(SearchQuerySerializer):
    limit = None
    offset = None
    sort = None


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
