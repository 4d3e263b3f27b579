"""One stored analysis in full: inputs, settings, outputs and health as stored."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.shared import ExperimentObjectMixin
from experiments.result_selectors import snapshot_get


class SnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phase = serializers.IntegerField(source="phase.number")
    data_cutoff = serializers.DateTimeField()
    engine_version = serializers.CharField()
    settings = serializers.DictField()
    inputs = serializers.DictField(help_text="Sufficient statistics per metric × variant.")
    outputs = serializers.DictField()
    health = serializers.DictField()
    run_seconds = serializers.FloatField()
    created_at = serializers.DateTimeField()


class ExperimentSnapshotApi(ExperimentObjectMixin):
    """One stored analysis in full: its inputs (sufficient statistics), settings and outputs."""

    @extend_schema(responses=SnapshotOutputSerializer, tags=["results"])
    def get(self, request: Request, key: str, snapshot_id: int) -> Response:
        snapshot = snapshot_get(experiment=self.get_experiment(key), snapshot_id=snapshot_id)
        return Response(SnapshotOutputSerializer(snapshot).data)
