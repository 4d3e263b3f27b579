"""Feature requests (``/api/v1/kpis/feature-requests``), most requested first."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.api.params import PAGE_PARAMETERS, page_serializer
from outcomes.kpis.selectors import feature_requests_list
from plg_platform.api.base import WorkspaceAPIView


class FeatureRequestSerializer(serializers.Serializer):
    request = serializers.CharField(help_text="Lower-cased, trimmed text (the grouping key).")
    text = serializers.CharField()
    requests = serializers.IntegerField()
    accounts = serializers.IntegerField()
    arr = serializers.FloatField(help_text="Σ ARR of the distinct requesting accounts.")
    first_requested_at = serializers.DateTimeField()
    last_requested_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField()


FeatureRequestPageSerializer = page_serializer(
    "FeatureRequestPageSerializer", FeatureRequestSerializer
)


class FeatureRequestListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=FeatureRequestPageSerializer,
        tags=["kpis"],
        description="Feature requests of the feedback window, by requesting accounts' ARR.",
    )
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, feature_requests_list(workspace=self.workspace), FeatureRequestSerializer
        )
