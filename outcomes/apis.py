"""The metrics API: define metrics and read their KPI-style series.

Views are thin: validate the input's shape, call a service or selector, serialize the output.
Type-specific rules live in ``outcomes.metrics.definition`` and come back as 400s naming the
field.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.models import CapType, Direction, MetricKind, MetricType, UnitOfAnalysis
from outcomes.selectors import metric_get, metrics_list
from outcomes.services.metric_series import metric_series
from outcomes.services.metrics import metric_create, metric_delete, metric_spec
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView

SPEC_FIELDS = (
    "event",
    "filters",
    "property",
    "window_days",
    "denominator_event",
    "denominator_filters",
    "denominator_property",
    "retention_start_day",
    "retention_end_day",
    "min_count",
    "min_distinct_days",
    "cap_type",
    "cap_value",
    "unit_property",
    "tags",
)


class MetricInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=MetricType.choices)
    kind = serializers.ChoiceField(choices=MetricKind.choices, default=MetricKind.VALUE_CREATION)
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.INCREASE)
    unit = serializers.ChoiceField(choices=UnitOfAnalysis.choices, default=UnitOfAnalysis.USER)
    unit_property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    filters = serializers.ListField(child=serializers.DictField(), required=False)
    property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    window_days = serializers.IntegerField(required=False, allow_null=True)
    denominator_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    denominator_filters = serializers.ListField(child=serializers.DictField(), required=False)
    denominator_property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    retention_start_day = serializers.IntegerField(required=False, allow_null=True)
    retention_end_day = serializers.IntegerField(required=False, allow_null=True)
    min_count = serializers.IntegerField(required=False, allow_null=True)
    min_distinct_days = serializers.IntegerField(required=False, allow_null=True)
    cap_type = serializers.ChoiceField(choices=CapType.choices, required=False)
    cap_value = serializers.FloatField(required=False, allow_null=True)


class MetricOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.CharField()
    direction = serializers.CharField()
    unit = serializers.CharField()
    definition = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_definition(self, metric) -> dict:
        return metric_spec(metric)


class MetricListApi(WorkspaceAPIView):
    @extend_schema(responses=MetricOutputSerializer(many=True), tags=["metrics"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, metrics_list(workspace=self.workspace), MetricOutputSerializer
        )

    @extend_schema(
        request=MetricInputSerializer, responses=MetricOutputSerializer, tags=["metrics"]
    )
    def post(self, request: Request) -> Response:
        serializer = MetricInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        metric = metric_create(
            workspace=self.workspace,
            key=data["key"],
            name=data["name"],
            description=data["description"],
            kind=data["kind"],
            direction=data["direction"],
            unit=data["unit"],
            spec={"type": data["type"], **{k: data[k] for k in SPEC_FIELDS if k in data}},
            actor=request.user,
        )
        return Response(MetricOutputSerializer(metric).data, status=status.HTTP_201_CREATED)


class MetricDetailApi(WorkspaceAPIView):
    @extend_schema(responses=MetricOutputSerializer, tags=["metrics"])
    def get(self, request: Request, key: str) -> Response:
        metric = metric_get(workspace=self.workspace, key=key)
        return Response(MetricOutputSerializer(metric).data)

    @extend_schema(responses={204: None}, tags=["metrics"])
    def delete(self, request: Request, key: str) -> Response:
        metric_delete(metric=metric_get(workspace=self.workspace, key=key), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeriesQuerySerializer(StrictSerializer):
    date_from = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    interval = serializers.ChoiceField(choices=["day", "week"], default="day")
    start_event = serializers.CharField(required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        data = {("date_from" if k == "from" else k): v for k, v in data.items()}
        return super().to_internal_value(data)


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    units = serializers.IntegerField()
    immature_units = serializers.IntegerField()
    n = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class MetricValuesApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", date, description="First cohort day (default: 30 days ago)"),
            OpenApiParameter("to", date, description="Last cohort day (default: today)"),
            OpenApiParameter("interval", str, enum=["day", "week"]),
            OpenApiParameter("start_event", str, description="Event that starts a unit's window"),
        ],
        responses=SeriesPointSerializer(many=True),
        tags=["metrics"],
    )
    def get(self, request: Request, key: str) -> Response:
        metric = metric_get(workspace=self.workspace, key=key)
        query = SeriesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        today = datetime.now(tz=ZoneInfo(self.workspace.timezone)).date()
        date_to = params.get("to") or today
        date_from = params.get("date_from") or date_to - timedelta(days=30)
        points = metric_series(
            metric=metric,
            date_from=date_from,
            date_to=date_to,
            interval=params["interval"],
            start_event=params["start_event"],
        )
        return Response(
            {
                "metric": metric.key,
                "interval": params["interval"],
                "results": SeriesPointSerializer([asdict(p) for p in points], many=True).data,
            }
        )
