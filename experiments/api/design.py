"""The design input of an experiment (create and PATCH): variants, hypothesis, metrics,
settings, and its translation into ``ExperimentDesign``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.decision_rules import DecisionRule
from experiments.models import Correction, Engine, FunnelStage
from experiments.services.design import (
    MAX_HYPOTHESIS_PART_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PHASE_REASON_LENGTH,
    MAX_PRODUCT_AREA_LENGTH,
    MAX_SOURCE_EXPERIMENT_ID_LENGTH,
    MAX_TEAM_LENGTH,
    MAX_UNIT_PROPERTY_LENGTH,
    MAX_VARIANT_NAME_LENGTH,
    TOO_LONG,
    ExperimentDesign,
    VariantSpec,
)
from experiments.services.plans import MAX_AMENDMENT_REASON_LENGTH, decision_rule_read
from plg_platform.api.base import StrictSerializer

TWO_CONTROLS = "Exactly one variant may be the control; {count} are marked."


class VariantInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=MAX_KEY_LENGTH)
    name = serializers.CharField(max_length=MAX_VARIANT_NAME_LENGTH, required=False, default="")
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
    change = serializers.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH, help_text="We believe [this change]…"
    )
    audience = serializers.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH, required=False, default="", allow_blank=True
    )
    outcome = serializers.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH, required=False, default="", allow_blank=True
    )
    evidence = serializers.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH, required=False, default="", allow_blank=True
    )


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
            if len(data.strip()) > MAX_HYPOTHESIS_PART_LENGTH:
                raise serializers.ValidationError(
                    TOO_LONG.format(max=MAX_HYPOTHESIS_PART_LENGTH, length=len(data.strip()))
                )
            return {"change": data.strip(), "audience": "", "outcome": "", "evidence": ""}
        parts = HypothesisInputSerializer(data=data)
        parts.is_valid(raise_exception=True)
        return dict(parts.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


class DesignInputSerializer(StrictSerializer):
    """Every design field; on PATCH all are optional."""

    key = serializers.SlugField(max_length=MAX_KEY_LENGTH)
    name = serializers.CharField(max_length=MAX_NAME_LENGTH)
    hypothesis = HypothesisField()
    variants = VariantsField()
    primary_metric = serializers.SlugField(
        max_length=MAX_KEY_LENGTH,
        required=False,
        help_text="Required, unless the experiment is created from a template.",
    )
    secondary_metrics = serializers.ListField(
        child=serializers.SlugField(max_length=MAX_KEY_LENGTH), required=False
    )
    guardrail_metrics = serializers.ListField(
        child=serializers.SlugField(max_length=MAX_KEY_LENGTH), required=False
    )
    coverage = serializers.FloatField(min_value=0, max_value=1, required=False)
    targeting = serializers.DictField(required=False)
    unit_property = serializers.CharField(
        max_length=MAX_UNIT_PROPERTY_LENGTH, required=False, allow_blank=True
    )
    team = serializers.CharField(max_length=MAX_TEAM_LENGTH, required=False, allow_blank=True)
    product_area = serializers.CharField(
        max_length=MAX_PRODUCT_AREA_LENGTH, required=False, allow_blank=True
    )
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
    source = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Warehouse-native analysis: the id of an event source of this workspace whose "
        "exposure table holds the experiment (null: our own exposures and events).",
    )
    source_experiment_id = serializers.CharField(
        max_length=MAX_SOURCE_EXPERIMENT_ID_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The experiment's id in the source's exposure table (empty: its key).",
    )
    phase_reason = serializers.CharField(
        max_length=MAX_PHASE_REASON_LENGTH, required=False, allow_blank=True, write_only=True
    )
    decision_rule = serializers.JSONField(
        required=False,
        help_text='When to ship and to roll back, e.g. {"ship_when": {"no_guardrail_harmed": '
        'true}, "rollback_when": {"primary_loses": true}}; keys left out keep their values. '
        "Frozen with the plan at the first start.",
    )
    reason = serializers.CharField(
        max_length=MAX_AMENDMENT_REASON_LENGTH,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Why a planned field changes after the plan was frozen (an amendment).",
    )
    template = serializers.SlugField(
        max_length=MAX_KEY_LENGTH,
        required=False,
        write_only=True,
        help_text="Create from this template: its metrics, plan, settings and rule are copied; "
        "any of them given here wins. Only on create.",
    )

    def validate_variants(self, variants: list[dict]) -> list[dict]:
        controls = sum(1 for v in variants if v["is_control"])
        if controls > 1:
            raise serializers.ValidationError(TWO_CONTROLS.format(count=controls))
        if controls == 0 and variants:
            # The first variant is the control, as in the statistics API.
            variants = [{**variants[0], "is_control": True}, *variants[1:]]
        return variants


def design_changes(
    validated: dict[str, Any], *, rule: DecisionRule | None = None
) -> dict[str, Any]:
    """Turn validated input into ``ExperimentDesign`` field values; a decision rule is read
    over ``rule`` (the experiment's, in a PATCH: keys left out keep their values)."""
    out: dict[str, Any] = {}
    for name, value in validated.items():
        if name in ("phase_reason", "reason", "template"):
            continue
        if name == "decision_rule":
            out[name] = decision_rule_read(value, base=rule)
        elif name == "hypothesis":
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
