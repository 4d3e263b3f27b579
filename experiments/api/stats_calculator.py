"""The statistics calculator over HTTP, for teams with counts but no event data.

``POST /api/v1/stats/analyze`` and ``POST /api/v1/stats/power`` as DESIGN.md describes them.
The views validate types, hand the engine's own request dataclasses the values and map the
engine's ``StatsInputError`` (which names the field) to a 400.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.stats import AnalysisRequest, PowerRequest, StatsInputError, analyze, plan
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.errors import ValidationFailed


def _optional_number(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(required=False, allow_null=True, help_text=help_text)


BAND = "Quantile metrics: the sample quantile at level ν {sign} 1.96·√(ν(1 − ν)/n_star)."


class CalculatorVariantSerializer(StrictSerializer):
    key = serializers.CharField(max_length=100)
    n = serializers.FloatField(
        min_value=0, help_text="Units (a quantile metric: the number of values)."
    )
    sum = _optional_number("Required except for quantile metrics.")
    sum_squares = serializers.FloatField(required=False, allow_null=True)
    denominator_sum = serializers.FloatField(required=False, allow_null=True)
    denominator_sum_squares = serializers.FloatField(required=False, allow_null=True)
    sum_product = serializers.FloatField(required=False, allow_null=True)
    quantile = _optional_number(
        "Quantile metrics: the sample quantile at quantile_level (linear interpolation)."
    )
    lower = _optional_number(BAND.format(sign="−"))
    upper = _optional_number(BAND.format(sign="+"))
    n_star = _optional_number(
        "Quantile metrics: the sample size lower and upper were computed for "
        "(1 ≤ n_star ≤ n; default n)."
    )


class AnalyzeInputSerializer(StrictSerializer):
    metric_type = serializers.ChoiceField(["proportion", "mean", "ratio", "quantile"])
    quantile_level = _optional_number(
        "Quantile metrics only (and required there): ν, e.g. 0.9 for p90."
    )
    engine = serializers.ChoiceField(["frequentist", "bayesian"], default="frequentist")
    difference = serializers.ChoiceField(["relative", "absolute"], default="relative")
    alpha = serializers.FloatField(default=0.05)
    sequential = serializers.BooleanField(default=False)
    sequential_tuning = serializers.FloatField(default=5000)
    correction = serializers.ChoiceField(["none", "holm", "bh"], default="none")
    alternative = serializers.ChoiceField(
        ["two_sided", "greater", "less"],
        required=False,
        help_text='"greater"/"less" test treatment − control one-sided; default two-sided.',
    )
    weights = serializers.ListField(
        child=serializers.FloatField(),
        required=False,
        help_text="Configured traffic weights, one per variant, for the SRM check (default equal).",
    )
    srm_threshold = serializers.FloatField(
        required=False, help_text="Flag a sample ratio mismatch below this p-value (0.001)."
    )
    higher_is_better = serializers.BooleanField(
        required=False, help_text="Direction of improvement, for chance to win and risk."
    )
    proper_prior = serializers.BooleanField(
        required=False, help_text="Bayesian: use N(prior_mean, prior_variance) instead of flat."
    )
    prior_mean = serializers.FloatField(required=False, help_text="In the effect's units.")
    prior_variance = serializers.FloatField(required=False, help_text="In the effect's units.")
    variants = CalculatorVariantSerializer(many=True, help_text="The first is the control.")
    metric_name = serializers.CharField(max_length=200, required=False)


class SrmOutputSerializer(serializers.Serializer):
    p_value = serializers.FloatField(allow_null=True)
    flag = serializers.BooleanField()
    chi_square = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    status = serializers.CharField()
    message = serializers.CharField()


class ComparisonOutputSerializer(serializers.Serializer):
    variant = serializers.CharField()
    effect = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    chance_to_win = serializers.FloatField(allow_null=True)
    risk = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    summary = serializers.CharField()
    ci_level = serializers.FloatField(
        allow_null=True, help_text="The interval's level (above 1 − alpha when corrected)."
    )
    p_value_unadjusted = serializers.FloatField(allow_null=True)
    risk_control = serializers.FloatField(
        allow_null=True, help_text="Bayesian: expected loss of keeping the control."
    )
    control_mean = serializers.FloatField(allow_null=True)
    variant_mean = serializers.FloatField(allow_null=True)


class AnalyzeOutputSerializer(serializers.Serializer):
    srm = SrmOutputSerializer()
    comparisons = ComparisonOutputSerializer(many=True)


class PowerInputSerializer(StrictSerializer):
    baseline_rate = serializers.FloatField(required=False, allow_null=True)
    baseline_mean = serializers.FloatField(required=False, allow_null=True)
    baseline_variance = serializers.FloatField(required=False, allow_null=True)
    mde = serializers.FloatField(required=False, allow_null=True)
    mde_type = serializers.ChoiceField(["relative", "absolute"], default="relative")
    sample_size_per_variant = serializers.FloatField(required=False, allow_null=True)
    alpha = serializers.FloatField(default=0.05)
    power = serializers.FloatField(default=0.8)
    n_variants = serializers.IntegerField(default=2)
    alternative = serializers.ChoiceField(["two_sided", "one_sided"], default="two_sided")
    sequential = serializers.BooleanField(default=False)
    sequential_tuning = serializers.FloatField(required=False, allow_null=True)
    daily_traffic = serializers.FloatField(required=False, allow_null=True)


class PowerOutputSerializer(serializers.Serializer):
    sample_size_per_variant = serializers.IntegerField(allow_null=True)
    total_sample_size = serializers.IntegerField(allow_null=True)
    mde_absolute = serializers.FloatField(allow_null=True)
    mde_relative = serializers.FloatField(allow_null=True)
    duration_days = serializers.IntegerField(allow_null=True)
    alpha_per_comparison = serializers.FloatField()
    power = serializers.FloatField()
    sequential = serializers.BooleanField()
    sequential_tuning = serializers.FloatField(allow_null=True)
    sequential_inflation = serializers.FloatField(allow_null=True)
    fixed_sample_size_per_variant = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    message = serializers.CharField()


def _engine_call(function: Any, request_class: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Build the engine's request and run it, turning its input errors into 400s."""
    try:
        return asdict(function(request_class(**values)))
    except StatsInputError as exc:
        field = exc.field.replace("[", ".").replace("]", "")
        raise ValidationFailed(exc.message, field=field) from exc


class StatsAnalyzeApi(WorkspaceAPIView):
    """Analyse per-variant counts: SRM and each treatment against the control."""

    required_role = "viewer"

    @extend_schema(
        request=AnalyzeInputSerializer, responses=AnalyzeOutputSerializer, tags=["statistics"]
    )
    def post(self, request: Request) -> Response:
        data = AnalyzeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["variants"] = tuple(dict(v) for v in values["variants"])
        if "weights" in values:
            values["weights"] = tuple(values["weights"])
        result = _engine_call(analyze, AnalysisRequest, values)
        return Response(AnalyzeOutputSerializer(result).data)


class StatsPowerApi(WorkspaceAPIView):
    """Sample size per variant for an MDE, or the MDE for a size; duration for a traffic."""

    required_role = "viewer"

    @extend_schema(
        request=PowerInputSerializer, responses=PowerOutputSerializer, tags=["statistics"]
    )
    def post(self, request: Request) -> Response:
        data = PowerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = _engine_call(plan, PowerRequest, dict(data.validated_data))
        return Response(PowerOutputSerializer(result).data)
