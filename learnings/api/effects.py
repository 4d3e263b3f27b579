"""A learning's effect tags (acquisition, retention): read them, override one with a reason."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from learnings.api.shared import TAGS, LearningObjectMixin, LearningOutputSerializer
from learnings.models import Effect, EffectDimension
from learnings.selectors import effect_overrides_list
from learnings.services.effects import learning_effect_override
from plg_platform.api.base import StrictSerializer


class EffectOverrideInputSerializer(StrictSerializer):
    dimension = serializers.ChoiceField(choices=EffectDimension.choices)
    value = serializers.ChoiceField(
        choices=Effect.choices,
        allow_blank=True,
        help_text="The effect to set; empty hands the tag back to the automatic derivation.",
    )
    reason = serializers.CharField(help_text="Why the automatic tag is wrong. Required.")


class EffectOverrideOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dimension = serializers.CharField()
    previous = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_actor(self, override) -> str | None:
        return override.actor.get_username() if override.actor else None


class LearningEffectsApi(LearningObjectMixin):
    @extend_schema(
        responses=EffectOverrideOutputSerializer(many=True),
        tags=TAGS,
        summary="History of the effect tags' overrides, newest first",
    )
    def get(self, request: Request, learning_id: int) -> Response:
        overrides = effect_overrides_list(learning=self.get_learning(learning_id))
        return Response(EffectOverrideOutputSerializer(overrides, many=True).data)

    @extend_schema(
        request=EffectOverrideInputSerializer,
        responses=LearningOutputSerializer,
        tags=TAGS,
        summary="Override an automatic effect tag (a reason is required)",
    )
    def post(self, request: Request, learning_id: int) -> Response:
        learning = self.get_learning(learning_id)
        serializer = EffectOverrideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        learning = learning_effect_override(
            learning=learning, actor=request.user, **serializer.validated_data
        )
        return self.detail(learning)
