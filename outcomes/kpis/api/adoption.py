"""Feature adoption on a day (``/api/v1/kpis/feature-adoption``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.catalog import BY_KEY
from outcomes.kpis.selectors import kpi_feature_adoption
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query


class FeatureAdoptionItemSerializer(serializers.Serializer):
    feature = serializers.CharField()
    adopters = serializers.IntegerField()
    active_users = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class FeatureAdoptionSerializer(serializers.Serializer):
    date = serializers.DateField(allow_null=True)
    definition = serializers.CharField()
    results = FeatureAdoptionItemSerializer(many=True)


class OnQuerySerializer(StrictSerializer):
    on = serializers.DateField(required=False)
    segment = serializers.CharField(required=False, allow_blank=True, default="")


ON_PARAMETERS = [
    OpenApiParameter("on", date, description="Local day (default: the latest computed)"),
    OpenApiParameter("segment", str, description="e.g. plan=pro; empty for everyone"),
]


class KpiFeatureAdoptionApi(WorkspaceAPIView):
    @extend_schema(parameters=ON_PARAMETERS, responses=FeatureAdoptionSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = validated_query(OnQuerySerializer, request)
        day, features = kpi_feature_adoption(
            workspace=self.workspace, on=params.get("on"), segment=params["segment"]
        )
        return Response(
            {
                "date": day,
                "definition": BY_KEY["feature_adoption"].definition,
                "results": [asdict(f) for f in features],
            }
        )
