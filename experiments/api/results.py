"""The results of an experiment: the latest analysis with its history, health and
plain-language summaries, read from ``experiments.contracts`` by attribute."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.shared import PLAN_SCHEMA, ExperimentObjectMixin, plan_json
from experiments.contracts import Health, VariantResult
from experiments.result_selectors import ExperimentResults, experiment_results
from plg_platform.api.base import StrictSerializer


class SegmentRefSerializer(serializers.Serializer):
    property = serializers.CharField()
    value = serializers.CharField()


class FunnelStepChangeSerializer(serializers.Serializer):
    difference = serializers.FloatField(
        allow_null=True,
        help_text="Variant − control, in proportion points (0.02 = 2 points); null when an arm "
        "has no unit at the step's denominator or neither arm varies.",
    )
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    ci_level = serializers.FloatField(help_text="1 − α, two-sided (Wald).")
    p_value = serializers.FloatField(
        allow_null=True, help_text="Two-sided; not corrected for the number of steps."
    )


class FunnelStepSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The step's label (its event unless named).")
    event = serializers.CharField()
    units = serializers.IntegerField(help_text="Matured units that reached this step in order.")
    conversion = serializers.FloatField(
        allow_null=True, help_text="Units reaching this step / units reaching the step before."
    )
    overall = serializers.FloatField(
        allow_null=True, help_text="Units reaching this step / all matured units."
    )
    conversion_change = FunnelStepChangeSerializer(
        required=False,
        help_text="Treatment variants only: the change in `conversion` against the control.",
    )
    overall_change = FunnelStepChangeSerializer(
        required=False,
        help_text="Treatment variants only: the change in `overall` against the control.",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        for key in ("conversion_change", "overall_change"):
            if getattr(instance, key) is None:
                data.pop(key, None)
        return data


class VariantResultSerializer(serializers.Serializer):
    variant = serializers.CharField()
    units = serializers.IntegerField(help_text="Matured units in the population.")
    immature_units = serializers.IntegerField(help_text="Units whose window has not passed.")
    n = serializers.IntegerField(help_text="Units with a value (time to event: reached it).")
    value = serializers.FloatField(allow_null=True, help_text="Mean, rate or ratio.")
    never_reached_share = serializers.FloatField(
        required=False, allow_null=True, help_text="Time-to-event metrics only."
    )
    steps = FunnelStepSerializer(
        many=True, required=False, help_text="Funnel metrics only: each step, in order."
    )

    def to_representation(self, instance: VariantResult) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not instance.tracks_reaching:
            data.pop("never_reached_share", None)
        if not instance.steps:
            data.pop("steps", None)
        return data


class ComparisonResultSerializer(serializers.Serializer):
    variant = serializers.CharField()
    status = serializers.CharField(help_text="ok, or why there is no result.")
    message = serializers.CharField()
    effect = serializers.FloatField(allow_null=True, help_text="Relative lift (0.03 = +3%).")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    ci_level = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(
        allow_null=True, help_text="Frequentist; corrected when a correction is set."
    )
    p_value_unadjusted = serializers.FloatField(allow_null=True)
    chance_to_win = serializers.FloatField(
        allow_null=True, help_text="Bayesian: the probability that the variant is better."
    )
    risk = serializers.FloatField(allow_null=True, help_text="Bayesian expected loss.")
    standard_error = serializers.FloatField(allow_null=True)
    absolute_effect = serializers.FloatField(allow_null=True)
    absolute_ci_low = serializers.FloatField(allow_null=True)
    absolute_ci_high = serializers.FloatField(allow_null=True)
    control_mean = serializers.FloatField(allow_null=True)
    variant_mean = serializers.FloatField(allow_null=True)
    variance_reduction = serializers.FloatField(allow_null=True, help_text="CUPED's share.")
    significant = serializers.BooleanField()
    verdict = serializers.CharField(help_text="win | loss | flat | inconclusive")
    summary = serializers.CharField(help_text="The result in plain language.")


class MetricResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    metric_type = serializers.CharField(help_text="proportion | mean | ratio")
    role = serializers.CharField(help_text="primary | secondary | guardrail")
    tags = serializers.ListField(child=serializers.CharField())
    direction = serializers.CharField(help_text="up: higher is better; down: lower is.")
    segment = SegmentRefSerializer(allow_null=True)
    variants = VariantResultSerializer(many=True)
    comparisons = ComparisonResultSerializer(many=True)
    summary = serializers.CharField()
    quantile = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="Quantile metrics: the level compared (0.9: p90); each variant's value is "
        "its quantile, and the effect the difference in quantiles. Absent for other metrics.",
    )
    quantile_of = serializers.CharField(
        required=False, help_text="Quantile metrics: 'unit' or 'event'. Absent for others."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """The stored shape: only quantile metrics carry ``quantile`` and ``quantile_of``."""
        data = super().to_representation(instance)
        if data.get("quantile") is None:
            data.pop("quantile", None)
            data.pop("quantile_of", None)
        return data


class BannerSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="srm | guardrail | multiple_exposures | power")
    level = serializers.CharField(help_text="error | warning | info")
    message = serializers.CharField()


class ForestPointSerializer(serializers.Serializer):
    metric_key = serializers.CharField()
    metric_name = serializers.CharField()
    role = serializers.CharField()
    variant = serializers.CharField()
    effect = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    ci_level = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()
    verdict = serializers.CharField()
    higher_is_better = serializers.BooleanField()


class HistoryPointSerializer(serializers.Serializer):
    snapshot_id = serializers.IntegerField()
    data_cutoff = serializers.DateTimeField()
    effect = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()
    units = serializers.IntegerField()


class ComparisonHistorySerializer(serializers.Serializer):
    metric_key = serializers.CharField()
    metric_name = serializers.CharField()
    variant = serializers.CharField()
    points = HistoryPointSerializer(many=True)


class SegmentBreakdownSerializer(serializers.Serializer):
    property = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())
    metrics = MetricResultSerializer(many=True)


class SrmSerializer(serializers.Serializer):
    phase = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    weights = serializers.DictField(child=serializers.FloatField())
    p_value = serializers.FloatField(allow_null=True)
    flag = serializers.BooleanField()
    status = serializers.CharField()
    threshold = serializers.FloatField()


class MultipleExposuresSerializer(serializers.Serializer):
    phase = serializers.IntegerField()
    units = serializers.IntegerField()
    excluded_units = serializers.IntegerField()
    share = serializers.FloatField()
    threshold = serializers.FloatField()
    warn = serializers.BooleanField()


class GuardrailResultSerializer(serializers.Serializer):
    metric = serializers.CharField()
    name = serializers.CharField()
    variant = serializers.CharField()
    harm = serializers.FloatField(allow_null=True, help_text="Relative; positive is worse.")
    harm_lower_bound = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True, help_text="One-sided.")
    harmful = serializers.BooleanField()
    status = serializers.CharField()


class GuardrailsSerializer(serializers.Serializer):
    harmful = serializers.BooleanField()
    results = GuardrailResultSerializer(many=True)


class PowerSerializer(serializers.Serializer):
    metric = serializers.CharField(allow_null=True)
    planned_mde = serializers.FloatField(allow_null=True)
    detectable_effect = serializers.FloatField(
        allow_null=True, help_text="Smallest relative change detectable now (80% power)."
    )
    units_per_variant = serializers.IntegerField(allow_null=True)
    planned_sample_size_per_variant = serializers.IntegerField(allow_null=True)
    progress = serializers.FloatField(allow_null=True)
    too_little_data = serializers.BooleanField()


class HealthSerializer(serializers.Serializer):
    srm = SrmSerializer(allow_null=True, required=False)
    srm_phases = SrmSerializer(many=True, required=False)
    multiple_exposures = MultipleExposuresSerializer(required=False)
    guardrails = GuardrailsSerializer(required=False)
    power = PowerSerializer(required=False)

    def to_representation(self, instance: Health) -> dict[str, Any]:
        """Leave out the checks an old snapshot did not store (as it stored them)."""
        data = super().to_representation(instance)
        for name in ("multiple_exposures", "guardrails", "power"):
            if getattr(instance, name) is None:
                data.pop(name, None)
        return data


class PendingJobSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    task_id = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="ship | roll_back | keep_running | inconclusive")
    label = serializers.CharField()
    reason = serializers.CharField(help_text="Why, with the numbers it rests on.")
    clause = serializers.CharField(
        help_text="The part of the frozen plan's rule that decided: srm | ship | "
        "rollback_guardrail | rollback_primary | wait_for_plan | keep_running | "
        "inconclusive_plan_complete | inconclusive_stopped_early (empty without a frozen plan)."
    )
    clause_text = serializers.CharField(help_text="That part of the rule, in words.")
    rule = serializers.CharField(help_text="The whole rule, in words.")


class MaturitySerializer(serializers.Serializer):
    units_exposed = serializers.IntegerField(help_text="Units of the phase that saw a variant.")
    units_matured = serializers.IntegerField(
        help_text="Of those, units whose primary-metric window has passed (they count)."
    )
    maturity_days = serializers.IntegerField()
    first_exposed_at = serializers.DateTimeField(allow_null=True)
    first_result_at = serializers.DateTimeField(
        allow_null=True, help_text="When the earliest-exposed units mature: the first result."
    )
    all_matured_at = serializers.DateTimeField(allow_null=True)


class CumulativePointSerializer(serializers.Serializer):
    metric = serializers.CharField()
    variant = serializers.CharField()
    day = serializers.DateField(help_text="Day of first exposure (UTC).")
    units_exposed = serializers.IntegerField(help_text="Control + variant, exposed up to day.")
    units_matured = serializers.IntegerField(help_text="Of those, matured by the cut-off.")
    exposed_on_day = serializers.IntegerField(help_text="Control + variant, first exposed then.")
    effect = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    ci_level = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()


class ResultsOutputSerializer(serializers.Serializer):
    experiment = serializers.CharField(source="experiment_key")
    name = serializers.CharField(source="experiment_name")
    status = serializers.CharField()
    snapshot_id = serializers.IntegerField(allow_null=True)
    phase = serializers.IntegerField(allow_null=True)
    data_cutoff = serializers.DateTimeField(allow_null=True)
    engine_version = serializers.CharField(allow_null=True)
    run_seconds = serializers.FloatField(allow_null=True)
    settings = serializers.DictField()
    verdict = serializers.CharField()
    banners = BannerSerializer(many=True)
    metrics = MetricResultSerializer(many=True)
    summaries = serializers.DictField(
        child=serializers.CharField(), help_text="Metric key → plain-language summary."
    )
    forest = ForestPointSerializer(many=True)
    history = ComparisonHistorySerializer(many=True)
    segments = SegmentBreakdownSerializer(many=True)
    health = HealthSerializer()
    pending = PendingJobSerializer(allow_null=True)
    decision = DecisionSerializer(allow_null=True, help_text="None before the first analysis.")
    maturity = MaturitySerializer(
        allow_null=True, help_text="Exposed and matured units (at the cut-off, or now)."
    )
    variant_names = serializers.DictField(
        child=serializers.CharField(), help_text="Variant key → name."
    )
    finished = serializers.BooleanField(help_text="Stopped or concluded: no more data comes.")
    plan = serializers.SerializerMethodField()
    amended_decision = DecisionSerializer(
        allow_null=True,
        help_text="What the amended plan would decide, when it says something else than the "
        "frozen one (which ``decision`` follows).",
    )
    cumulative = CumulativePointSerializer(
        many=True,
        help_text="Lift over time: the cumulative lift by day of first exposure, computed with "
        "the latest snapshot's data (``history`` keeps one point per analysis).",
    )

    @extend_schema_field(PLAN_SCHEMA)
    def get_plan(self, obj: ExperimentResults) -> dict[str, Any] | None:
        return plan_json(obj.plan) if obj.plan is not None else None

    def to_representation(self, instance: ExperimentResults) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.health is None:  # no analysis yet: no health checks either
            data["health"] = {}
        return data


class ResultsQuerySerializer(StrictSerializer):
    phase = serializers.IntegerField(min_value=1, required=False)


class ExperimentResultsApi(ExperimentObjectMixin):
    """The latest analysis, its lift-over-time history, health and plain-language summaries."""

    @extend_schema(
        parameters=[ResultsQuerySerializer],
        responses=ResultsOutputSerializer,
        tags=["results"],
    )
    def get(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        results = experiment_results(
            experiment=experiment, phase_number=query.validated_data.get("phase")
        )
        return Response(ResultsOutputSerializer(results).data)
