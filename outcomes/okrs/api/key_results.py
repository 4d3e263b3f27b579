"""Key results (``/api/v1/key-results/``): list and create, read (with check-ins, baseline
history, initiatives, linked experiments and the forecast), change, delete, and change the
baseline.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from metrics.public import Direction
from outcomes.okrs.api.check_ins import CheckInSerializer
from outcomes.okrs.outlook import KeyResultOutlook, key_result_outlook
from outcomes.okrs.selectors import (
    KeyResultDetail,
    KeyResultSummary,
    key_result_detail,
    key_result_get,
    key_result_summary,
    key_results_list,
    objective_get,
)
from outcomes.okrs.services.key_results import (
    key_result_create,
    key_result_delete,
    key_result_measure_request,
    key_result_set_baseline,
    key_result_update,
)
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query
from plg_platform.clock import local_today


# =============================================================================================
# Objectives, key results, check-ins, initiatives
# =============================================================================================
class OkrKeyResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    objective = serializers.IntegerField()
    title = serializers.CharField()
    metric = serializers.CharField(help_text="The metric's key.")
    metric_name = serializers.CharField()
    segment_property = serializers.CharField()
    segment_value = serializers.CharField()
    start_event = serializers.CharField()
    cohort_days = serializers.IntegerField()
    direction = serializers.CharField(help_text="increase or decrease")
    baseline = serializers.FloatField(allow_null=True)
    baseline_computed_at = serializers.DateTimeField(allow_null=True)
    target = serializers.FloatField()
    current = serializers.FloatField(allow_null=True)
    current_date = serializers.DateField(allow_null=True)
    progress = serializers.FloatField(
        allow_null=True, help_text="(current − baseline) / (target − baseline)"
    )
    time_elapsed = serializers.FloatField(help_text="Share of the period's days passed.")
    status = serializers.CharField(help_text="on_track, at_risk, off_track or no_data")
    confidence = serializers.IntegerField(allow_null=True)
    last_comment = serializers.CharField()
    created_at = serializers.DateTimeField()


def summary_data(summary: KeyResultSummary) -> dict:
    kr = summary.key_result
    return {
        "id": kr.pk,
        "objective": kr.objective_id,
        "title": kr.title,
        "metric": kr.metric.key,
        "metric_name": kr.metric.name,
        "segment_property": kr.segment_property,
        "segment_value": kr.segment_value,
        "start_event": kr.start_event,
        "cohort_days": kr.cohort_days,
        "direction": kr.direction,
        "baseline": summary.baseline,
        "baseline_computed_at": kr.baseline_computed_at,
        "target": summary.target,
        "current": summary.current,
        "current_date": summary.current_date,
        "progress": summary.progress,
        "time_elapsed": summary.time_elapsed,
        "status": summary.status,
        "confidence": summary.confidence,
        "last_comment": summary.last_comment,
        "created_at": kr.created_at,
    }


class OkrKeyResultInputSerializer(StrictSerializer):
    objective = serializers.IntegerField()
    title = serializers.CharField(max_length=200)
    metric = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="The metric's key (required)."
    )
    target = serializers.FloatField(required=False, allow_null=True)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    segment_property = serializers.CharField(required=False, allow_blank=True, default="")
    segment_value = serializers.CharField(required=False, allow_blank=True, default="")
    start_event = serializers.CharField(required=False, allow_blank=True, default="")
    cohort_days = serializers.IntegerField(required=False, default=28)
    baseline = serializers.FloatField(required=False, allow_null=True)
    baseline_reason = serializers.CharField(required=False, allow_blank=True, default="")


class OkrKeyResultUpdateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    target = serializers.FloatField(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)


class KeyResultQuerySerializer(StrictSerializer):
    objective = serializers.IntegerField(required=False)


class KeyResultListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("objective", int)],
        responses=OkrKeyResultSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = validated_query(KeyResultQuerySerializer, request)
        today = local_today(self.workspace)
        key_results = key_results_list(
            workspace=self.workspace, objective_id=params.get("objective")
        )
        return Response(
            [summary_data(key_result_summary(key_result=kr, today=today)) for kr in key_results]
        )

    @extend_schema(
        request=OkrKeyResultInputSerializer,
        responses={201: OkrKeyResultSerializer},
        tags=["okrs"],
        description="A key result measures an outcome with a metric: 'metric' is required "
        "(deliverables are initiatives). The baseline is computed at the period's start; "
        "giving one by hand needs baseline_reason.",
    )
    def post(self, request: Request) -> Response:
        serializer = OkrKeyResultInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        objective = objective_get(
            workspace=self.workspace, objective_id=data["objective"], field="objective"
        )
        key_result = key_result_create(
            objective=objective,
            title=data["title"],
            metric_key=data.get("metric"),
            target=data.get("target"),
            direction=data.get("direction"),
            segment_property=data["segment_property"],
            segment_value=data["segment_value"],
            start_event=data["start_event"],
            cohort_days=data["cohort_days"],
            baseline=data.get("baseline"),
            baseline_reason=data["baseline_reason"],
            actor=request.user,
        )
        key_result_measure_request(key_result=key_result)
        summary = key_result_summary(key_result=key_result, today=local_today(self.workspace))
        return Response(summary_data(summary), status=status.HTTP_201_CREATED)


class BaselineChangeSerializer(serializers.Serializer):
    previous = serializers.FloatField(allow_null=True)
    baseline = serializers.FloatField()
    source = serializers.CharField(help_text="computed or manual")
    reason = serializers.CharField()
    changed_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_changed_by(self, change) -> str | None:
        return change.changed_by.email if change.changed_by else None


class InitiativeBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField(help_text="planned, in_progress, done or dropped")


class LinkedExperimentSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.CharField()
    estimated_impact = serializers.FloatField(allow_null=True)
    impact_description = serializers.CharField()


class TrendForecastSerializer(serializers.Serializer):
    model = serializers.CharField(allow_null=True, help_text="local_level or damped_trend")
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    level = serializers.FloatField(help_text="The interval's level, e.g. 0.8.")
    points = serializers.IntegerField(help_text="Weekly values the forecast is made from.")
    last_date = serializers.DateField(allow_null=True)


class ForecastPathSerializer(serializers.Serializer):
    date = serializers.DateField()
    mean = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()


class ContributionSerializer(serializers.Serializer):
    experiment = serializers.CharField(help_text="The experiment's key.")
    experiment_name = serializers.CharField()
    variant = serializers.CharField()
    lift = serializers.FloatField(help_text="Measured relative lift on the key result's metric.")
    lift_se = serializers.FloatField()
    shrunk_lift = serializers.FloatField()
    shrunk_lift_sd = serializers.FloatField()
    prior = serializers.CharField()
    reach = serializers.FloatField()
    reach_note = serializers.CharField()
    treated_share = serializers.FloatField()
    ships_on = serializers.DateField()
    cohort_share = serializers.FloatField()
    would_ship = serializers.BooleanField()
    adds = serializers.FloatField(help_text="Added to the value at the end, in its units.")
    adds_sd = serializers.FloatField()


class KeyResultForecastSerializer(serializers.Serializer):
    on = serializers.DateField(help_text="The period's last day, the forecast's date.")
    status = serializers.CharField(
        allow_null=True, help_text="on_track, at_risk or off_track; null without a forecast."
    )
    probability = serializers.FloatField(
        allow_null=True, help_text="Chance that the value on 'on' reaches the target."
    )
    why = serializers.CharField()
    message = serializers.CharField(help_text="Why there is no forecast (else empty).")
    target = serializers.FloatField()
    direction = serializers.CharField()
    trend = TrendForecastSerializer()
    path = ForecastPathSerializer(many=True)
    contributions = ContributionSerializer(many=True)
    added = serializers.FloatField(help_text="Σ counted contributions.")
    expected = serializers.FloatField(allow_null=True, help_text="Trend plus contributions.")


def forecast_data(outlook: KeyResultOutlook) -> dict:
    f = outlook.forecast
    return {
        "on": outlook.on,
        "status": outlook.status,
        "probability": outlook.probability,
        "why": outlook.why,
        "message": outlook.message,
        "target": outlook.target,
        "direction": outlook.direction,
        "trend": {
            "model": f.model,
            "mean": f.mean,
            "sd": f.sd,
            "low": f.low,
            "high": f.high,
            "level": f.level,
            "points": f.points,
            "last_date": f.last_date,
        },
        "path": [{"date": d, "mean": m, "low": lo, "high": hi} for d, m, lo, hi in f.path],
        "contributions": [
            {
                "experiment": p.contribution.experiment_key,
                "experiment_name": p.contribution.experiment_name,
                "variant": p.contribution.variant,
                "lift": p.contribution.lift,
                "lift_se": p.contribution.lift_se,
                "shrunk_lift": p.contribution.shrunk_lift,
                "shrunk_lift_sd": p.contribution.shrunk_lift_sd,
                "prior": p.contribution.prior,
                "reach": p.contribution.reach,
                "reach_note": p.contribution.reach_note,
                "treated_share": p.contribution.treated_share,
                "ships_on": p.contribution.ships_on,
                "cohort_share": p.cohort_share,
                "would_ship": p.contribution.would_ship,
                "adds": p.mean if p.counted else 0.0,
                "adds_sd": p.sd if p.counted else 0.0,
            }
            for p in outlook.contributions
        ],
        "added": outlook.added_mean,
        "expected": outlook.expected,
    }


class OkrKeyResultDetailSerializer(OkrKeyResultSerializer):
    check_ins = CheckInSerializer(many=True)
    baseline_history = BaselineChangeSerializer(many=True)
    initiatives = InitiativeBriefSerializer(many=True)
    experiments = LinkedExperimentSerializer(many=True)
    forecast = KeyResultForecastSerializer(
        help_text="Will it hit the target? The forecast at the period's end, the running "
        "experiments' expected contributions and the odds (docs/outcomes.md)."
    )


def _detail_data(detail: KeyResultDetail, today: date) -> dict:
    key_result = detail.summary.key_result
    return {
        **summary_data(detail.summary),
        "check_ins": CheckInSerializer(detail.check_ins, many=True).data,
        "baseline_history": BaselineChangeSerializer(detail.baseline_history, many=True).data,
        "initiatives": InitiativeBriefSerializer(detail.initiatives, many=True).data,
        "experiments": [asdict(e) for e in detail.experiments],
        "forecast": forecast_data(key_result_outlook(key_result=key_result, today=today)),
    }


class KeyResultDetailApi(WorkspaceAPIView):
    @extend_schema(responses=OkrKeyResultDetailSerializer, tags=["okrs"])
    def get(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        today = local_today(self.workspace)
        detail = key_result_detail(key_result=key_result, today=today)
        return Response(_detail_data(detail, today))

    @extend_schema(
        request=OkrKeyResultUpdateSerializer,
        responses=OkrKeyResultSerializer,
        tags=["okrs"],
        description="Title, target and direction only: a different metric, segment or cohort "
        "is a different key result.",
    )
    def patch(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = OkrKeyResultUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key_result = key_result_update(
            key_result=key_result, changes=serializer.validated_data, actor=request.user
        )
        summary = key_result_summary(key_result=key_result, today=local_today(self.workspace))
        return Response(summary_data(summary))

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        key_result_delete(key_result=key_result, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BaselineInputSerializer(StrictSerializer):
    baseline = serializers.FloatField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class KeyResultBaselineApi(WorkspaceAPIView):
    @extend_schema(
        request=BaselineInputSerializer,
        responses=OkrKeyResultDetailSerializer,
        tags=["okrs"],
        description="Replace the baseline by hand; a reason is required and kept in history.",
    )
    def post(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = BaselineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key_result = key_result_set_baseline(
            key_result=key_result,
            baseline=data["baseline"],
            reason=data["reason"],
            actor=request.user,
        )
        today = local_today(self.workspace)
        detail = key_result_detail(key_result=key_result, today=today)
        return Response(_detail_data(detail, today))
