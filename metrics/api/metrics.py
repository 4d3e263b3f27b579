"""The metric definitions API: list and create (``/api/v1/metrics/``), read and delete one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from metrics.engine.definition import SPEC_FIELDS
from metrics.models import CapType, Direction, Metric, MetricKind, MetricType, UnitOfAnalysis
from metrics.selectors import metric_get, metrics_list
from metrics.services import metric_create, metric_delete, metric_spec
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView


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
    steps = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Funnels: [{'event', 'filters'?, 'name'?}] in order, 2 to 10 steps.",
    )
    quantile = serializers.FloatField(
        required=False, allow_null=True, help_text="Quantile metrics: the level, e.g. 0.9 for p90."
    )
    quantile_of = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=8,
        help_text="Quantile metrics: 'unit' (one value per unit) or 'event' (each event's value).",
    )
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

    def get_definition(self, metric: Metric) -> dict:
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
