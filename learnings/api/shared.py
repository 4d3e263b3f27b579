"""Pieces the learnings endpoints share: the workspace lookup and the learning's output
shape (returned by the learning, effects, from-experiment and search endpoints)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from learnings.models import EffectDimension, Learning, ProductArea
from learnings.selectors import AREA_NOT_FOUND, learning_get
from learnings.services.effects import effect_override_current
from plg_platform.api.base import WorkspaceAPIView
from plg_platform.errors import ValidationFailed

TAGS = ["learnings"]


class KeyResultRefSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)


class LearningObjectMixin(WorkspaceAPIView):
    def get_learning(self, learning_id: int) -> Learning:
        return learning_get(workspace=self.workspace, learning_id=learning_id)

    def area_or_none(self, area_id: int | None, field: str = "product_area") -> ProductArea | None:
        """Resolve an area named in a request body: unknown there is a 400 naming the field."""
        if area_id is None:
            return None
        area = ProductArea.objects.filter(workspace=self.workspace, pk=area_id).first()
        if area is None:
            raise ValidationFailed(AREA_NOT_FOUND, field=field)
        return area

    def detail(self, learning: Learning, status_code: int = status.HTTP_200_OK) -> Response:
        learning = self.get_learning(learning.pk)
        return Response(LearningOutputSerializer(learning).data, status=status_code)


class AreaRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()


class ExperimentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()


class EffectOutputSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="In force: the override, else the derived value.")
    derived = serializers.CharField(help_text="From the analysis; empty when not measured.")
    overridden = serializers.BooleanField()
    override_reason = serializers.CharField(allow_blank=True)
    comparisons = serializers.ListField(child=serializers.DictField())


class EffectsOutputSerializer(serializers.Serializer):
    acquisition = EffectOutputSerializer()
    retention = EffectOutputSerializer()


class _TagsMixin(serializers.Serializer):
    product_area = AreaRefSerializer(allow_null=True)
    tags = serializers.SerializerMethodField()

    def get_tags(self, learning: Learning) -> list[str]:
        return [tag.name for tag in learning.tag_links.all()]


class LearningOutputSerializer(_TagsMixin):
    id = serializers.IntegerField()
    title = serializers.CharField()
    source = serializers.CharField()
    hypothesis = serializers.CharField()
    learned = serializers.CharField()
    decision = serializers.CharField()
    decision_variant = serializers.CharField()
    rationale = serializers.CharField()
    experiment = ExperimentRefSerializer(allow_null=True)
    result_snapshot_id = serializers.IntegerField(allow_null=True)
    primary_result = serializers.DictField()
    guardrail_results = serializers.ListField(child=serializers.DictField())
    outcome = serializers.CharField()
    impact = serializers.FloatField(allow_null=True)
    impact_se = serializers.FloatField(allow_null=True)
    funnel_stage = serializers.CharField()
    loop_stage = serializers.CharField()
    effects = serializers.SerializerMethodField()
    team = serializers.CharField()
    key_results = serializers.SerializerMethodField()
    attachments = serializers.ListField(child=serializers.DictField())
    author = serializers.SerializerMethodField()
    learned_on = serializers.DateField()
    quarter = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @staticmethod
    def _effect(learning: Learning, dimension: str) -> dict[str, Any]:
        evidence = learning.effect_evidence.get(dimension, {})
        override = effect_override_current(learning=learning, dimension=dimension)
        return {
            "value": getattr(learning, f"{dimension}_effect"),
            "derived": evidence.get("derived", ""),
            "overridden": override is not None,
            "override_reason": override.reason if override else "",
            "comparisons": evidence.get("comparisons", []),
        }

    @extend_schema_field(EffectsOutputSerializer)
    def get_effects(self, learning: Learning) -> dict[str, Any]:
        return {d: self._effect(learning, d) for d in EffectDimension.values}

    @extend_schema_field(KeyResultRefSerializer(many=True))
    def get_key_results(self, learning: Learning) -> list[dict[str, str]]:
        return [{"id": k.key_result_id, "title": k.title} for k in learning.key_results.all()]

    def get_author(self, learning: Learning) -> str | None:
        return learning.author.get_username() if learning.author else None
