""" "Have we tried this before?": learnings similar to a draft idea."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.models import Experiment
from learnings.api.shared import TAGS, AreaRefSerializer, LearningObjectMixin
from learnings.models import Learning
from learnings.similarity import similar_learnings


class SimilarQuerySerializer(serializers.Serializer):
    hypothesis = serializers.CharField(max_length=2000)
    product_area = serializers.IntegerField(required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(required=False, default=5, min_value=1, max_value=20)
    exclude_experiment = serializers.SlugField(
        required=False, allow_blank=True, default="", help_text="Leave out this experiment's own."
    )


class SimilarOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="learning.pk")
    title = serializers.CharField(source="learning.title")
    score = serializers.FloatField(help_text="Text similarity plus the product-area bonus.")
    text_score = serializers.FloatField(help_text="TF-IDF cosine, 0–1.")
    area_match = serializers.CharField(help_text="same, related (parent or sub-area) or empty.")
    outcome = serializers.CharField(source="learning.outcome")
    impact = serializers.FloatField(source="learning.impact", allow_null=True)
    decision = serializers.CharField(source="learning.decision")
    product_area = AreaRefSerializer(source="learning.product_area", allow_null=True)
    learned_on = serializers.DateField(source="learning.learned_on")
    learned = serializers.CharField(source="learning.learned")


class SimilarLearningsApi(LearningObjectMixin):
    @extend_schema(
        parameters=[SimilarQuerySerializer],
        responses=SimilarOutputSerializer(many=True),
        tags=TAGS,
        summary="Have we tried this before? Past learnings most similar to a draft hypothesis",
    )
    def get(self, request: Request) -> Response:
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        exclude: tuple[int, ...] = ()
        if data["exclude_experiment"]:
            exclude = tuple(
                Learning.objects.filter(
                    workspace=self.workspace,
                    experiment__in=Experiment.objects.filter(
                        workspace=self.workspace, key=data["exclude_experiment"]
                    ),
                ).values_list("pk", flat=True)
            )
        results = similar_learnings(
            workspace=self.workspace,
            hypothesis=data["hypothesis"],
            product_area=self.area_or_none(data["product_area"]),
            limit=data["limit"],
            exclude_ids=exclude,
        )
        return Response(SimilarOutputSerializer(results, many=True).data)
