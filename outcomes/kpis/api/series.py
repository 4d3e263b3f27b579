"""One KPI's series (``/api/v1/kpis/<kpi>/series``), read from the cache."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.api.catalog import KpiDefinitionSerializer, definition_data
from outcomes.kpis.api.params import RANGE_PARAMETERS, date_range, range_fields
from outcomes.kpis.selectors import KpiPoint, kpi_series
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query


class KpiPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)
    numerator = serializers.FloatField()
    denominator = serializers.FloatField()
    computed = serializers.BooleanField(help_text="False: this day was never computed.")


class KpiSeriesSerializer(serializers.Serializer):
    kpi = KpiDefinitionSerializer()
    interval = serializers.ChoiceField(choices=["day", "week"])
    segment = serializers.CharField()
    dimension = serializers.CharField()
    computed_through = serializers.DateField(allow_null=True)
    last_computed_at = serializers.DateTimeField(allow_null=True)
    results = KpiPointSerializer(many=True)


KpiSeriesQuerySerializer = type(
    "KpiSeriesQuerySerializer",
    (StrictSerializer,),
    {
        **range_fields(),
        "interval": serializers.ChoiceField(choices=["day", "week"], default="day"),
        "dimension": serializers.CharField(required=False, allow_blank=True, default=""),
    },
)


def _point_data(point: KpiPoint) -> dict:
    return {
        "period_start": point.period_start,
        "value": point.value,
        "numerator": point.numerator,
        "denominator": point.denominator,
        "computed": point.computed,
    }


class KpiSeriesApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("interval", str, enum=["day", "week"]),
            OpenApiParameter("dimension", str, description="The feature, for feature_adoption"),
        ],
        responses=KpiSeriesSerializer,
        tags=["kpis"],
    )
    def get(self, request: Request, kpi: str) -> Response:
        params = validated_query(KpiSeriesQuerySerializer, request)
        date_from, date_to = date_range(params, self.workspace)
        series = kpi_series(
            workspace=self.workspace,
            kpi=kpi,
            date_from=date_from,
            date_to=date_to,
            interval=params["interval"],
            segment=params["segment"],
            dimension=params["dimension"],
        )
        return Response(
            {
                "kpi": definition_data(series.kpi),
                "interval": series.interval,
                "segment": series.segment,
                "dimension": series.dimension,
                "computed_through": series.computed_through,
                "last_computed_at": series.last_computed_at,
                "results": [_point_data(p) for p in series.points],
            }
        )
