"""Experiment templates (``/api/v1/experiment-templates/``): list, create, read, edit, delete.

An experiment is created from a template with ``POST /api/v1/experiments/`` and
``"template": "<key>"`` (see ``experiments.api.experiments``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.decision_rules import DecisionRule, rule_text
from experiments.models import Correction, Engine, ExperimentTemplate
from experiments.plan_selectors import template_get, template_metrics, template_plan, templates_list
from experiments.services.design import MAX_KEY_LENGTH, MAX_NAME_LENGTH
from experiments.services.plans import decision_rule_read
from experiments.services.templates import (
    MAX_DESCRIPTION_LENGTH,
    MAX_MDE,
    MAX_RUNTIME_DAYS,
    MAX_UNITS_PER_VARIANT,
    MIN_SEQUENTIAL_TUNING,
    TemplateSpec,
    template_create,
    template_delete,
    template_update,
)
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView

DECISION_RULE_HELP = (
    '{"ship_when": {"min_chance_to_win": 0.95, "no_guardrail_harmed": true, '
    '"before_plan_complete": false}, "rollback_when": {"guardrail_harmed": true, '
    '"primary_loses": true}}; keys left out keep their defaults (shown).'
)


class TemplateInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=MAX_KEY_LENGTH)
    name = serializers.CharField(max_length=MAX_NAME_LENGTH)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )
    primary_metric = serializers.SlugField(max_length=MAX_KEY_LENGTH)
    secondary_metrics = serializers.ListField(
        child=serializers.SlugField(max_length=MAX_KEY_LENGTH), required=False
    )
    guardrail_metrics = serializers.ListField(
        child=serializers.SlugField(max_length=MAX_KEY_LENGTH), required=False
    )
    planned_mde = serializers.FloatField(
        min_value=0.0001,
        max_value=MAX_MDE,
        required=False,
        allow_null=True,
        help_text="Smallest change worth detecting, relative (0.05 = 5%).",
    )
    min_runtime_days = serializers.IntegerField(
        min_value=1, max_value=MAX_RUNTIME_DAYS, required=False, allow_null=True
    )
    planned_units_per_variant = serializers.IntegerField(
        min_value=1, max_value=MAX_UNITS_PER_VARIANT, required=False, allow_null=True
    )
    engine = serializers.ChoiceField(Engine.choices, required=False)
    sequential = serializers.BooleanField(required=False)
    sequential_tuning = serializers.IntegerField(min_value=MIN_SEQUENTIAL_TUNING, required=False)
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, required=False)
    cuped = serializers.BooleanField(required=False)
    correction = serializers.ChoiceField(Correction.choices, required=False)
    decision_rule = serializers.JSONField(required=False, help_text=DECISION_RULE_HELP)


def template_changes(
    validated: dict[str, Any], *, rule: DecisionRule | None = None
) -> dict[str, Any]:
    """Validated input as ``TemplateSpec`` field values: lists as tuples, the decision rule read
    over ``rule`` (the template's, in a PATCH: keys left out keep their values)."""
    out: dict[str, Any] = {}
    for name, value in validated.items():
        if name == "decision_rule":
            out[name] = decision_rule_read(value, base=rule)
        elif isinstance(value, list):
            out[name] = tuple(value)
        else:
            out[name] = value
    return out


class TemplateOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    primary_metric = serializers.SerializerMethodField()
    secondary_metrics = serializers.SerializerMethodField()
    guardrail_metrics = serializers.SerializerMethodField()
    planned_mde = serializers.FloatField(allow_null=True)
    min_runtime_days = serializers.IntegerField(allow_null=True)
    planned_units_per_variant = serializers.IntegerField(allow_null=True)
    engine = serializers.CharField()
    sequential = serializers.BooleanField()
    sequential_tuning = serializers.IntegerField()
    alpha = serializers.FloatField()
    cuped = serializers.BooleanField()
    correction = serializers.CharField()
    decision_rule = serializers.SerializerMethodField()
    rule = serializers.SerializerMethodField(help_text="The decision rule in words.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_primary_metric(self, obj: ExperimentTemplate) -> str | None:
        primary = template_metrics(obj).primary
        return primary.key if primary is not None else None

    def get_secondary_metrics(self, obj: ExperimentTemplate) -> list[str]:
        return [m.key for m in template_metrics(obj).secondary]

    def get_guardrail_metrics(self, obj: ExperimentTemplate) -> list[str]:
        return [m.key for m in template_metrics(obj).guardrail]

    def get_decision_rule(self, obj: ExperimentTemplate) -> dict[str, Any]:
        return template_plan(obj).decision_rule.to_json()

    def get_rule(self, obj: ExperimentTemplate) -> str:
        return rule_text(template_plan(obj))


class TemplateListApi(WorkspaceAPIView):
    @extend_schema(responses=TemplateOutputSerializer(many=True), tags=["experiment templates"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, templates_list(workspace=self.workspace), TemplateOutputSerializer
        )

    @extend_schema(
        request=TemplateInputSerializer,
        responses={201: TemplateOutputSerializer},
        tags=["experiment templates"],
    )
    def post(self, request: Request) -> Response:
        data = TemplateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = template_create(
            workspace=self.workspace,
            spec=TemplateSpec(**template_changes(data.validated_data)),
            actor=request.user,
        )
        return Response(TemplateOutputSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(WorkspaceAPIView):
    @extend_schema(responses=TemplateOutputSerializer, tags=["experiment templates"])
    def get(self, request: Request, key: str) -> Response:
        template = template_get(workspace=self.workspace, key=key)
        return Response(TemplateOutputSerializer(template).data)

    @extend_schema(
        request=TemplateInputSerializer(partial=True),
        responses=TemplateOutputSerializer,
        tags=["experiment templates"],
        description="Experiments created from the template keep their values.",
    )
    def patch(self, request: Request, key: str) -> Response:
        template = template_get(workspace=self.workspace, key=key)
        data = TemplateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        template = template_update(
            template=template,
            changes=template_changes(
                data.validated_data, rule=template_plan(template).decision_rule
            ),
            actor=request.user,
        )
        return Response(TemplateOutputSerializer(template).data)

    @extend_schema(request=None, responses={204: None}, tags=["experiment templates"])
    def delete(self, request: Request, key: str) -> Response:
        template = template_get(workspace=self.workspace, key=key)
        template_delete(template=template, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
