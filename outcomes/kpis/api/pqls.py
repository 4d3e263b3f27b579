"""Product-qualified leads (``/api/v1/kpis/pqls``), as a page or as CSV."""

from __future__ import annotations

import csv
from datetime import datetime

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.api.params import PAGE_PARAMETERS, page_serializer
from outcomes.kpis.selectors import pqls_list
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query
from plg_platform.clock import local_today


class PqlSerializer(serializers.Serializer):
    unit_type = serializers.CharField(help_text="user or account")
    unit_id = serializers.CharField()
    event_count = serializers.IntegerField()
    users = serializers.IntegerField()
    first_event_at = serializers.DateTimeField()
    last_event_at = serializers.DateTimeField()
    qualified_at = serializers.DateTimeField()
    plan = serializers.CharField()
    arr = serializers.FloatField(allow_null=True)
    computed_at = serializers.DateTimeField()


PqlPageSerializer = page_serializer("PqlPageSerializer", PqlSerializer)


class PlanQuerySerializer(StrictSerializer):
    plan = serializers.CharField(required=False, allow_blank=True, default="")
    limit = serializers.IntegerField(required=False, min_value=1)
    offset = serializers.IntegerField(required=False, min_value=0)


class PqlListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("plan", str), *PAGE_PARAMETERS],
        responses=PqlPageSerializer,
        tags=["kpis"],
        description="Users or accounts with at least K PQL events in the last D days, from "
        "the cache (refreshed with the KPIs).",
    )
    def get(self, request: Request) -> Response:
        params = validated_query(PlanQuerySerializer, request)
        leads = pqls_list(workspace=self.workspace, plan=params["plan"] or None)
        return self.paginated(request, leads, PqlSerializer)


CSV_COLUMNS = (
    "unit_type",
    "unit_id",
    "event_count",
    "users",
    "qualified_at",
    "first_event_at",
    "last_event_at",
    "plan",
    "arr",
)


def _csv_cell(value: object) -> str:
    """Return the cell's text; text that a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


class PqlCsvApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("plan", str)],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        tags=["kpis"],
        description="The PQL list as CSV (every row, streamed).",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = validated_query(PlanQuerySerializer, request)
        leads = pqls_list(workspace=self.workspace, plan=params["plan"] or None)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for lead in leads.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(getattr(lead, c)) for c in CSV_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        filename = f"pqls-{self.workspace.slug}-{local_today(self.workspace).isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
