"""The weekly cohort retention table (``/api/v1/kpis/cohort-table``)."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.api.params import RANGE_PARAMETERS, KpiRangeQuerySerializer, date_range
from outcomes.kpis.catalog import BY_KEY
from outcomes.kpis.selectors import kpi_cohort_table
from plg_platform.api.base import WorkspaceAPIView, validated_query


class CohortCellSerializer(serializers.Serializer):
    weeks_since_signup = serializers.IntegerField()
    units = serializers.IntegerField(help_text="Users of the cohort whose week k has passed.")
    retained = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class CohortRowSerializer(serializers.Serializer):
    cohort_start = serializers.DateField(help_text="The Monday of the signup week.")
    size = serializers.IntegerField()
    cells = CohortCellSerializer(many=True)


class CohortTableSerializer(serializers.Serializer):
    definition = serializers.CharField()
    segment = serializers.CharField()
    results = CohortRowSerializer(many=True)


class KpiCohortTableApi(WorkspaceAPIView):
    @extend_schema(parameters=RANGE_PARAMETERS, responses=CohortTableSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = validated_query(KpiRangeQuerySerializer, request)
        date_from, date_to = date_range(params, self.workspace, default_days=12 * 7)
        rows = kpi_cohort_table(
            workspace=self.workspace,
            date_from=date_from,
            date_to=date_to,
            segment=params["segment"],
        )
        return Response(
            {
                "definition": BY_KEY["cohort_retention"].definition,
                "segment": params["segment"],
                "results": [asdict(row) for row in rows],
            }
        )
