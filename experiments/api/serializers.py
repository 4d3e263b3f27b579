"""Input and output shapes of the experiments API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.models import (
    AlertKind,
    Correction,
    Decision,
    Engine,
    Experiment,
    FunnelStage,
)
from experiments.services.design import ExperimentDesign, VariantSpec
from plg_platform.api.base import StrictSerializer

TWO_CONTROLS = "Exactly one variant may be the control; {count} are marked."


class VariantInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, default="")
    weight = serializers.FloatField(min_value=0, max_value=1)
    is_control = serializers.BooleanField(required=False, default=False)


@extend_schema_field(VariantInputSerializer(many=True))
class VariantsField(serializers.Field):
    """The variants, always validated as a complete list, even in a PATCH.

    A PATCH replaces the whole list, so each variant needs its key and weight and gets its
    defaults. (Nested in a partial serializer, DRF would skip both required fields and
    defaults.)
    """

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        variants = VariantInputSerializer(data=data, many=True)
        variants.is_valid(raise_exception=True)
        return [dict(v) for v in variants.validated_data]

    def to_representation(self, value: Any) -> Any:
        return value


class HypothesisInputSerializer(StrictSerializer):
    change = serializers.CharField(help_text="We believe [this change]…")
    audience = serializers.CharField(required=False, default="", allow_blank=True)
    outcome = serializers.CharField(required=False, default="", allow_blank=True)
    evidence = serializers.CharField(required=False, default="", allow_blank=True)


_HYPOTHESIS_PARTS = {
    "type": "object",
    "properties": {
        "change": {"type": "string", "description": "We believe [this change]…"},
        "audience": {"type": "string", "description": "…for [whom]…"},
        "outcome": {"type": "string", "description": "…will [move which metric]…"},
        "evidence": {"type": "string", "description": "…because [evidence]."},
    },
    "required": ["change"],
    "additionalProperties": False,
}


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "One sentence, kept as the change."},
            _HYPOTHESIS_PARTS,
        ]
    }
)
class HypothesisField(serializers.Field):
    """A hypothesis as the template's parts, or as one sentence (kept as the 'change')."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, str):
            if not data.strip():
                raise serializers.ValidationError("A hypothesis is required.")
            return {"change": data.strip(), "audience": "", "outcome": "", "evidence": ""}
        parts = HypothesisInputSerializer(data=data)
        parts.is_valid(raise_exception=True)
        return dict(parts.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


class HypothesisOutputSerializer(serializers.Serializer):
    """The hypothesis as one sentence, and its parts."""

    statement = serializers.CharField(source="hypothesis")
    change = serializers.CharField(source="hypothesis_change")
    audience = serializers.CharField(source="hypothesis_audience")
    outcome = serializers.CharField(source="hypothesis_outcome")
    evidence = serializers.CharField(source="hypothesis_evidence")


class DesignInputSerializer(StrictSerializer):
    """Every design field; on PATCH all are optional."""

    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    hypothesis = HypothesisField()
    variants = VariantsField()
    primary_metric = serializers.SlugField()
    secondary_metrics = serializers.ListField(child=serializers.SlugField(), required=False)
    guardrail_metrics = serializers.ListField(child=serializers.SlugField(), required=False)
    coverage = serializers.FloatField(min_value=0, max_value=1, required=False)
    targeting = serializers.DictField(required=False)
    unit_property = serializers.CharField(max_length=100, required=False, allow_blank=True)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True)
    product_area = serializers.CharField(max_length=200, required=False, allow_blank=True)
    funnel_stage = serializers.ChoiceField(FunnelStage.choices, required=False, allow_blank=True)
    engine = serializers.ChoiceField(Engine.choices, required=False)
    sequential = serializers.BooleanField(required=False)
    sequential_tuning = serializers.IntegerField(min_value=100, required=False)
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, required=False)
    cuped = serializers.BooleanField(required=False)
    correction = serializers.ChoiceField(Correction.choices, required=False)
    segments = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    min_days_for_alerts = serializers.IntegerField(min_value=0, required=False)
    min_units_for_alerts = serializers.IntegerField(min_value=0, required=False)
    planned_mde = serializers.FloatField(min_value=0, required=False, allow_null=True)
    planned_sample_size_per_variant = serializers.IntegerField(
        min_value=1, required=False, allow_null=True
    )
    planned_duration_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    key_results = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Ids of the key results (of this workspace) the experiment serves.",
    )
    phase_reason = serializers.CharField(required=False, allow_blank=True, write_only=True)

    def validate_variants(self, variants: list[dict]) -> list[dict]:
        controls = sum(1 for v in variants if v["is_control"])
        if controls > 1:
            raise serializers.ValidationError(TWO_CONTROLS.format(count=controls))
        if controls == 0 and variants:
            # The first variant is the control, as in the statistics API.
            variants = [{**variants[0], "is_control": True}, *variants[1:]]
        return variants


def design_changes(validated: dict[str, Any]) -> dict[str, Any]:
    """Turn validated input into ``ExperimentDesign`` field values."""
    out: dict[str, Any] = {}
    for name, value in validated.items():
        if name == "phase_reason":
            continue
        if name == "hypothesis":
            out.update({f"hypothesis_{part}": text for part, text in value.items()})
        elif name == "variants":
            out["variants"] = tuple(VariantSpec(**v) for v in value)
        elif isinstance(value, list):
            out[name] = tuple(value)
        else:
            out[name] = value
    return out


def design_from_input(validated: dict[str, Any]) -> ExperimentDesign:
    return ExperimentDesign(**design_changes(validated))


class VariantOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    weight = serializers.FloatField()
    is_control = serializers.BooleanField()


class PhaseOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    coverage = serializers.FloatField()
    weights = serializers.DictField()
    metric_keys = serializers.DictField()
    reason = serializers.CharField()


class ExperimentKeyResultRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class ExperimentOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    hypothesis = HypothesisOutputSerializer(source="*")
    status = serializers.CharField()
    owner = serializers.EmailField(source="owner.email", allow_null=True, default=None)
    team = serializers.CharField()
    product_area = serializers.CharField()
    funnel_stage = serializers.CharField()
    variants = VariantOutputSerializer(many=True, source="variants.all")
    metrics = serializers.SerializerMethodField()
    key_results = serializers.SerializerMethodField()
    coverage = serializers.FloatField()
    targeting = serializers.DictField()
    unit_property = serializers.CharField()
    settings = serializers.SerializerMethodField()
    planned_mde = serializers.FloatField(allow_null=True)
    planned_sample_size_per_variant = serializers.IntegerField(allow_null=True)
    planned_duration_days = serializers.IntegerField(allow_null=True)
    phases = PhaseOutputSerializer(many=True, source="phases.all")
    decision = serializers.CharField()
    decision_variant = serializers.CharField()
    decision_rationale = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    concluded_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_metrics(self, obj: Experiment) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"primary": [], "secondary": [], "guardrail": []}
        for link in obj.metric_links.select_related("metric"):
            out[link.role].append(link.metric.key)
        return out

    @extend_schema_field(ExperimentKeyResultRefSerializer(many=True))
    def get_key_results(self, obj: Experiment) -> list[dict[str, Any]]:
        return [
            {"id": kr.pk, "title": kr.title}
            for kr in obj.key_results.only("id", "title").order_by("pk")
        ]

    def get_settings(self, obj: Experiment) -> dict[str, Any]:
        return {
            name: getattr(obj, name)
            for name in (
                "engine",
                "sequential",
                "sequential_tuning",
                "alpha",
                "cuped",
                "correction",
                "segments",
                "min_days_for_alerts",
                "min_units_for_alerts",
            )
        }


class ConcludeInputSerializer(StrictSerializer):
    decision = serializers.ChoiceField(Decision.choices)
    rationale = serializers.CharField()
    variant = serializers.CharField(required=False, default="", allow_blank=True)


class AssignmentOutputSerializer(serializers.Serializer):
    variant = serializers.CharField(allow_null=True)
    in_experiment = serializers.BooleanField()
    reason = serializers.CharField()


# --- Analysis: refresh, jobs, results ----------------------------------------------------------


class RefreshOutputSerializer(serializers.Serializer):
    task_id = serializers.CharField(help_text="Celery task id of the analysis.")
    job_id = serializers.IntegerField(help_text="Poll its progress at status_url.")
    status = serializers.CharField(help_text="queued | running")
    joined = serializers.BooleanField(
        help_text="True when an analysis was already queued or running and this request "
        "joined it instead of starting another."
    )
    status_url = serializers.CharField()


class JobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="queued | running | succeeded | failed")
    progress = serializers.FloatField(help_text="From 0 to 1.")
    message = serializers.CharField()
    error = serializers.CharField()
    snapshot_id = serializers.IntegerField(
        source="result.snapshot_id", allow_null=True, default=None
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class SegmentRefSerializer(serializers.Serializer):
    property = serializers.CharField()
    value = serializers.CharField()


class VariantResultSerializer(serializers.Serializer):
    variant = serializers.CharField()
    units = serializers.IntegerField(help_text="Matured units in the population.")
    immature_units = serializers.IntegerField(help_text="Units whose window has not passed.")
    n = serializers.IntegerField(help_text="Units with a value (time to event: reached it).")
    value = serializers.FloatField(allow_null=True, help_text="Mean, rate or ratio.")
    never_reached_share = serializers.FloatField(
        required=False, allow_null=True, help_text="Time-to-event metrics only."
    )


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


class PendingJobSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    task_id = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField()


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


class ResultsQuerySerializer(StrictSerializer):
    phase = serializers.IntegerField(min_value=1, required=False)


class SnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phase = serializers.IntegerField(source="phase.number")
    data_cutoff = serializers.DateTimeField()
    engine_version = serializers.CharField()
    settings = serializers.DictField()
    inputs = serializers.DictField(help_text="Sufficient statistics per metric × variant.")
    outputs = serializers.DictField()
    health = serializers.DictField()
    run_seconds = serializers.FloatField()
    created_at = serializers.DateTimeField()


# --- Notifications and webhooks ------------------------------------------------------------------


class NotificationQuerySerializer(StrictSerializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    experiment = serializers.SlugField(required=False)
    limit = serializers.IntegerField(min_value=1, required=False)
    offset = serializers.IntegerField(min_value=0, required=False)


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    experiment = serializers.CharField(source="experiment.key", allow_null=True, default=None)
    title = serializers.CharField()
    body = serializers.CharField()
    payload = serializers.DictField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class MarkedReadOutputSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class WebhookInputSerializer(StrictSerializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(AlertKind.choices),
        required=False,
        help_text="Alert kinds to send; empty or absent means all.",
    )
    is_active = serializers.BooleanField(required=False)


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookSecretOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret. Shown this once; store it where the receiver can read it."
    )


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    notification = serializers.IntegerField(source="notification_id")
    kind = serializers.CharField(source="notification.kind")
    status = serializers.CharField(help_text="pending | delivered | failed")
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class WebhookPingOutputSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    response_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
