"""The meta-analysis of learnings: win rates and cumulative impact per group, with shrinkage."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from learnings.api.search import SearchQuerySerializer
from learnings.api.shared import TAGS, LearningObjectMixin
from learnings.selectors import GROUP_BY, meta_analysis


class MetaAnalysisQuerySerializer(SearchQuerySerializer):
    limit = None
    offset = None
    sort = None
    group_by = serializers.ChoiceField(choices=GROUP_BY, required=False, default="product_area")
    method = serializers.ChoiceField(
        choices=["empirical_bayes", "james_stein"], required=False, default="empirical_bayes"
    )


class GroupStatsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    experiments = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    flat = serializers.IntegerField()
    inconclusive = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    shipped = serializers.IntegerField()
    with_impact = serializers.IntegerField()
    average_impact = serializers.FloatField(allow_null=True, help_text="Raw mean lift.")
    average_impact_shrunk = serializers.FloatField(allow_null=True)
    cumulative_impact = serializers.FloatField(help_text="Σ lift of shipped experiments, raw.")
    cumulative_impact_shrunk = serializers.FloatField()
    retention_measured = serializers.IntegerField()
    retention_moved = serializers.IntegerField()
    retention_positive = serializers.IntegerField()
    retention_moved_rate = serializers.FloatField(allow_null=True)


class ShrinkageSerializer(serializers.Serializer):
    method = serializers.CharField()
    method_name = serializers.CharField()
    experiments_used = serializers.SerializerMethodField()
    prior_mean = serializers.FloatField(allow_null=True)
    tau2 = serializers.FloatField(allow_null=True)
    message = serializers.CharField()

    def get_experiments_used(self, shrinkage) -> int:
        return len(shrinkage.raw) if shrinkage.method != "none" else 0


class MetaAnalysisSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    shrinkage = ShrinkageSerializer()
    estimates_without_se = serializers.IntegerField()
    notes = serializers.ListField(child=serializers.CharField())
    total = GroupStatsSerializer()
    groups = GroupStatsSerializer(many=True)


class MetaAnalysisApi(LearningObjectMixin):
    @extend_schema(
        parameters=[MetaAnalysisQuerySerializer],
        responses=MetaAnalysisSerializer,
        tags=TAGS,
        summary="Win rate, average and cumulative impact (raw and shrunk) by a tag",
    )
    def get(self, request: Request) -> Response:
        query = MetaAnalysisQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        result = meta_analysis(
            workspace=self.workspace,
            group_by=data["group_by"],
            query=data["q"],
            filters=query.filters(),
            method=data["method"],
        )
        return Response(MetaAnalysisSerializer(result).data)
