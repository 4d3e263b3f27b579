"""The KPI catalogue (``/api/v1/kpis/``): every KPI's definition and whether it is configured."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.catalog import KpiDefinition
from outcomes.kpis.selectors import kpi_catalog
from plg_platform.api.base import WorkspaceAPIView


class KpiDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="value_creation or value_capture")
    family = serializers.CharField()
    unit = serializers.CharField()
    weekly = serializers.CharField(help_text="How a week's value comes from its days.")
    definition = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    has_dimension = serializers.BooleanField()


class KpiCatalogEntrySerializer(KpiDefinitionSerializer):
    configured = serializers.BooleanField()


class KpiCatalogSerializer(serializers.Serializer):
    results = KpiCatalogEntrySerializer(many=True)


def definition_data(definition: KpiDefinition, configured: bool | None = None) -> dict:
    data = {
        "key": definition.key,
        "name": definition.name,
        "kind": definition.kind,
        "family": definition.family,
        "unit": definition.unit,
        "weekly": definition.weekly,
        "definition": definition.definition,
        "higher_is_better": definition.higher_is_better,
        "has_dimension": definition.has_dimension,
    }
    if configured is not None:
        data["configured"] = configured
    return data


class KpiCatalogApi(WorkspaceAPIView):
    @extend_schema(responses=KpiCatalogSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        entries = kpi_catalog(workspace=self.workspace)
        return Response({"results": [definition_data(k, ok) for k, ok in entries]})
