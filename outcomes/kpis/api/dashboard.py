"""The KPI dashboard (``/api/v1/kpis/dashboard``): one card per KPI."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.api.adoption import (
    ON_PARAMETERS,
    FeatureAdoptionItemSerializer,
    OnQuerySerializer,
)
from outcomes.kpis.api.catalog import KpiDefinitionSerializer, definition_data
from outcomes.kpis.api.feature_requests import FeatureRequestSerializer
from outcomes.kpis.dashboard import KpiCard, kpi_dashboard
from plg_platform.api.base import WorkspaceAPIView, validated_query


class KpiCardPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)


class KpiCardSerializer(KpiDefinitionSerializer):
    configured = serializers.BooleanField()
    value = serializers.FloatField(allow_null=True)
    previous_value = serializers.FloatField(allow_null=True)
    window_days = serializers.IntegerField()
    window_end = serializers.DateField(help_text="The last day (or cohort) of the window.")
    series = KpiCardPointSerializer(many=True)


class KpiDashboardSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    computed_through = serializers.DateField(allow_null=True)
    last_computed_at = serializers.DateTimeField(allow_null=True)
    segment = serializers.CharField()
    value_creation = KpiCardSerializer(many=True, help_text="Team goals.")
    value_capture = KpiCardSerializer(many=True, help_text="Revenue: finance and leadership.")
    feature_adoption = FeatureAdoptionItemSerializer(many=True)
    top_feature_requests = FeatureRequestSerializer(many=True)
    pql_count = serializers.IntegerField()


def _card_data(card: KpiCard) -> dict:
    return {
        **definition_data(card.kpi, card.configured),
        "value": card.value,
        "previous_value": card.previous_value,
        "window_days": card.window_days,
        "window_end": card.window_end,
        "series": [{"period_start": p.period_start, "value": p.value} for p in card.series],
    }


class KpiDashboardApi(WorkspaceAPIView):
    @extend_schema(parameters=ON_PARAMETERS, responses=KpiDashboardSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = validated_query(OnQuerySerializer, request)
        board = kpi_dashboard(
            workspace=self.workspace, on=params.get("on"), segment=params["segment"]
        )
        return Response(
            {
                "as_of": board.as_of,
                "computed_through": board.computed_through,
                "last_computed_at": board.last_computed_at,
                "segment": board.segment,
                "value_creation": [_card_data(c) for c in board.value_creation],
                "value_capture": [_card_data(c) for c in board.value_capture],
                "feature_adoption": [asdict(f) for f in board.feature_adoption],
                "top_feature_requests": FeatureRequestSerializer(
                    board.top_feature_requests, many=True
                ).data,
                "pql_count": board.pql_count,
            }
        )
