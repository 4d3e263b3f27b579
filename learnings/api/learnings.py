"""Learnings: search and create (``/api/v1/learnings/``), read, edit and delete one, and
record one from a concluded experiment. Viewers read, editors write."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.models import Decision, Experiment, FunnelStage
from learnings.api.search import SearchPageSerializer, SearchQuerySerializer
from learnings.api.shared import (
    TAGS,
    KeyResultRefSerializer,
    LearningObjectMixin,
    LearningOutputSerializer,
)
from learnings.models import Effect, EffectDimension, Learning, LoopStage, Source
from learnings.search.faceted import learnings_search
from learnings.services.from_experiment import learning_record_from_experiment
from learnings.services.learnings import (
    Attachment,
    KeyResultRef,
    learning_create,
    learning_delete,
    learning_update,
)
from plg_platform.api.base import StrictSerializer

MANUAL_SOURCES = [(value, label) for value, label in Source.choices if value != Source.EXPERIMENT]


class EffectInputSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=EffectDimension.choices)
    value = serializers.ChoiceField(choices=Effect.choices)


class AttachmentSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LearningInputSerializer(StrictSerializer):
    """A learning added by hand. Experiment learnings come from concluding the experiment."""

    title = serializers.CharField(max_length=300)
    source = serializers.ChoiceField(choices=MANUAL_SOURCES)
    hypothesis = serializers.CharField(required=False, allow_blank=True, default="")
    learned = serializers.CharField(required=False, allow_blank=True, default="")
    decision = serializers.ChoiceField(
        choices=Decision.choices, required=False, allow_blank=True, default=""
    )
    decision_variant = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    funnel_stage = serializers.ChoiceField(
        choices=FunnelStage.choices, required=False, allow_blank=True, default=""
    )
    loop_stage = serializers.ChoiceField(
        choices=LoopStage.choices, required=False, allow_blank=True, default=""
    )
    product_area = serializers.IntegerField(required=False, allow_null=True, default=None)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    learned_on = serializers.DateField(required=False, allow_null=True, default=None)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list, max_length=30
    )
    key_results = KeyResultRefSerializer(many=True, required=False, default=list)
    attachments = AttachmentSerializer(many=True, required=False, default=list)
    effects = EffectInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text="Effect tags judged by hand; they need effect_reason, kept as overrides.",
    )
    effect_reason = serializers.CharField(required=False, allow_blank=True, default="")


class LearningUpdateSerializer(StrictSerializer):
    """Fields a PATCH may change; effects change through ``/effects`` with a reason."""

    title = serializers.CharField(max_length=300, required=False)
    hypothesis = serializers.CharField(required=False, allow_blank=True)
    learned = serializers.CharField(required=False, allow_blank=True)
    decision = serializers.ChoiceField(choices=Decision.choices, required=False, allow_blank=True)
    decision_variant = serializers.CharField(max_length=100, required=False, allow_blank=True)
    rationale = serializers.CharField(required=False, allow_blank=True)
    funnel_stage = serializers.ChoiceField(
        choices=FunnelStage.choices, required=False, allow_blank=True
    )
    loop_stage = serializers.ChoiceField(
        choices=LoopStage.choices, required=False, allow_blank=True
    )
    product_area = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True)
    learned_on = serializers.DateField(required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=30
    )
    key_results = KeyResultRefSerializer(many=True, required=False)
    attachments = AttachmentSerializer(many=True, required=False)


def _refs(data: dict[str, Any]) -> dict[str, Any]:
    """Turn nested inputs into the services' value objects."""
    out = dict(data)
    if "key_results" in out:
        out["key_results"] = [KeyResultRef(**kr) for kr in out["key_results"]]
    if "attachments" in out:
        out["attachments"] = [Attachment(**a) for a in out["attachments"]]
    return out


class LearningListApi(LearningObjectMixin):
    """Search (with facets) and add learnings."""

    @extend_schema(
        parameters=[SearchQuerySerializer],
        responses=SearchPageSerializer,
        tags=TAGS,
        operation_id="learnings_search",
        summary="Full-text search with facet counts",
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = learnings_search(
            workspace=self.workspace,
            query=data["q"],
            filters=query.filters(),
            sort=data["sort"],
            offset=data["offset"],
            limit=data["limit"],
        )
        return Response(SearchPageSerializer(page).data)

    @extend_schema(
        request=LearningInputSerializer,
        responses={201: LearningOutputSerializer},
        tags=TAGS,
        summary="Add a learning by hand (interviews, research, support trends)",
    )
    def post(self, request: Request) -> Response:
        serializer = LearningInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _refs(serializer.validated_data)
        effects = {e["dimension"]: e["value"] for e in data.pop("effects")}
        data["product_area"] = self.area_or_none(data["product_area"])
        learning = learning_create(
            workspace=self.workspace, actor=request.user, effects=effects, **data
        )
        return self.detail(learning, status.HTTP_201_CREATED)


class LearningDetailApi(LearningObjectMixin):
    @extend_schema(responses=LearningOutputSerializer, tags=TAGS)
    def get(self, request: Request, learning_id: int) -> Response:
        return Response(LearningOutputSerializer(self.get_learning(learning_id)).data)

    @extend_schema(request=LearningUpdateSerializer, responses=LearningOutputSerializer, tags=TAGS)
    def patch(self, request: Request, learning_id: int) -> Response:
        learning = self.get_learning(learning_id)
        serializer = LearningUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = _refs(serializer.validated_data)
        if "product_area" in changes:
            changes["product_area"] = self.area_or_none(changes["product_area"])
        learning = learning_update(learning=learning, actor=request.user, changes=changes)
        return self.detail(learning)

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, learning_id: int) -> Response:
        learning_delete(learning=self.get_learning(learning_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FromExperimentInputSerializer(StrictSerializer):
    experiment = serializers.SlugField(max_length=100, help_text="The concluded experiment's key.")


class LearningFromExperimentApi(LearningObjectMixin):
    @extend_schema(
        request=FromExperimentInputSerializer,
        responses={200: LearningOutputSerializer, 201: LearningOutputSerializer},
        tags=TAGS,
        summary="Create or refresh a concluded experiment's learning from its latest analysis",
    )
    def post(self, request: Request) -> Response:
        serializer = FromExperimentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        experiment = get_object_or_404(
            Experiment, workspace=self.workspace, key=serializer.validated_data["experiment"]
        )
        existed = Learning.objects.filter(experiment=experiment).exists()
        learning = learning_record_from_experiment(experiment=experiment, actor=request.user)
        return self.detail(learning, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)
