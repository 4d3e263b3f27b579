"""A metric's KPI-style series (``/api/v1/metrics/<key>/values``): one value per signup cohort."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from metrics.selectors import metric_get
from metrics.series import metric_series
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView


class SeriesQuerySerializer(StrictSerializer):
    date_from = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    interval = serializers.ChoiceField(choices=["day", "week"], default="day")
    start_event = serializers.CharField(required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        data = {("date_from" if k == "from" else k): v for k, v in data.items()}
        return super().to_internal_value(data)


class SeriesStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    event = serializers.CharField()
    units = serializers.IntegerField(help_text="Matured units of the cohort that reached it.")
    conversion = serializers.FloatField(allow_null=True, help_text="Of the step before.")
    overall = serializers.FloatField(allow_null=True, help_text="Of the cohort's units.")


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    units = serializers.IntegerField()
    immature_units = serializers.IntegerField()
    n = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    steps = SeriesStepSerializer(
        many=True, required=False, help_text="Funnel metrics only: each step in the cohort."
    )

    def to_representation(self, instance: dict) -> dict:
        data = super().to_representation(instance)
        if not instance.get("steps"):
            data.pop("steps", None)
        return data


class MetricValuesOutputSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="The metric's key.")
    interval = serializers.ChoiceField(choices=["day", "week"])
    results = SeriesPointSerializer(many=True, help_text="One point per cohort period.")


class MetricValuesApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", date, description="First cohort day (default: 30 days ago)"),
            OpenApiParameter("to", date, description="Last cohort day (default: today)"),
            OpenApiParameter("interval", str, enum=["day", "week"]),
            OpenApiParameter("start_event", str, description="Event that starts a unit's window"),
        ],
        responses=MetricValuesOutputSerializer,
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
