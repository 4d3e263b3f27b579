"""Pieces every experiments endpoint shares: the experiment lookup and the experiment's
output shape (returned by the design, lifecycle and conclude endpoints)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.decision_rules import PlanSpec, rule_text
from experiments.models import Experiment
from experiments.plan_selectors import ExperimentPlanView, experiment_plan
from plg_platform.api.base import WorkspaceAPIView


class ExperimentObjectMixin(WorkspaceAPIView):
    def get_experiment(self, key: str) -> Experiment:
        return get_object_or_404(Experiment, workspace=self.workspace, key=key)


class HypothesisOutputSerializer(serializers.Serializer):
    """The hypothesis as one sentence, and its parts."""

    statement = serializers.CharField(source="hypothesis")
    change = serializers.CharField(source="hypothesis_change")
    audience = serializers.CharField(source="hypothesis_audience")
    outcome = serializers.CharField(source="hypothesis_outcome")
    evidence = serializers.CharField(source="hypothesis_evidence")


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


class ExperimentSourceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _plan_spec_json(spec: PlanSpec) -> dict[str, Any]:
    return {**spec.to_json(), "rule": rule_text(spec)}


def plan_json(view: ExperimentPlanView) -> dict[str, Any]:
    """An experiment's plan as the API shows it (the experiment and its results)."""
    return {
        "template": view.template_key or None,
        "decision_rule": view.current.decision_rule.to_json(),
        "current": _plan_spec_json(view.current),
        "frozen": _plan_spec_json(view.frozen) if view.frozen is not None else None,
        "frozen_at": view.frozen_at.isoformat() if view.frozen_at else None,
        "amendments": [
            {
                "at": a.at.isoformat(),
                "actor": a.actor or None,
                "reason": a.reason,
                "changes": [{"field": c.field, "from": c.before, "to": c.after} for c in a.changes],
            }
            for a in view.amendments
        ],
    }


PLAN_SCHEMA = {
    "type": "object",
    "description": "The pre-registered plan: the current one, the one frozen at the first start "
    "(null before), and the amendments since, each with its reason.",
    "properties": {
        "template": {"type": "string", "nullable": True},
        "decision_rule": {"type": "object"},
        "current": {"type": "object"},
        "frozen": {"type": "object", "nullable": True},
        "frozen_at": {"type": "string", "format": "date-time", "nullable": True},
        "amendments": {"type": "array", "items": {"type": "object"}},
    },
}


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
    source = serializers.SerializerMethodField(
        help_text="The event source it is analysed from (null: our own exposures and events)."
    )
    source_experiment_id = serializers.CharField()
    settings = serializers.SerializerMethodField()
    planned_mde = serializers.FloatField(allow_null=True)
    planned_sample_size_per_variant = serializers.IntegerField(allow_null=True)
    planned_duration_days = serializers.IntegerField(allow_null=True)
    phases = PhaseOutputSerializer(many=True, source="phases.all")
    plan = serializers.SerializerMethodField()
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

    @extend_schema_field(ExperimentSourceRefSerializer(allow_null=True))
    def get_source(self, obj: Experiment) -> dict[str, Any] | None:
        source = obj.source
        return None if source is None else {"id": source.pk, "name": source.name}

    @extend_schema_field(PLAN_SCHEMA)
    def get_plan(self, obj: Experiment) -> dict[str, Any]:
        return plan_json(experiment_plan(obj))

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
