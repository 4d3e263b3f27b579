"""Workspace holdouts: create, read, change, end, and their cumulative-impact reports."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.holdouts.models import Holdout
from experiments.holdouts.selectors import (
    holdout_get,
    holdout_latest_report,
    holdout_status,
    holdout_unit_counts,
    holdouts_list,
    report_sentences,
)
from experiments.holdouts.services import (
    HoldoutInput,
    holdout_create,
    holdout_end,
    holdout_update,
    tracking_key,
)
from experiments.holdouts.tasks import REFRESH_HOLDOUT
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.services.queue import task_enqueue_on_commit


class HoldoutInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    share = serializers.FloatField(help_text="Share of units held out, e.g. 0.05.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    hash_attribute = serializers.CharField(max_length=100, required=False, default="id")


class HoldoutChangeSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    share = serializers.FloatField(required=False)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    hash_attribute = serializers.CharField(max_length=100, required=False)


class HoldoutOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    share = serializers.FloatField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    hash_attribute = serializers.CharField()
    status = serializers.SerializerMethodField()
    tracking_key = serializers.SerializerMethodField()
    units_seen = serializers.SerializerMethodField()

    def get_status(self, holdout: Holdout) -> str:
        return holdout_status(holdout)

    def get_tracking_key(self, holdout: Holdout) -> str:
        return tracking_key(holdout)

    def get_units_seen(self, holdout: Holdout) -> dict[str, int]:
        counts = holdout_unit_counts(holdout=holdout)
        return {"holdout": counts.get("holdout", 0), "general": counts.get("general", 0)}


class HoldoutListApi(WorkspaceAPIView):
    @extend_schema(responses=HoldoutOutputSerializer(many=True), tags=["holdouts"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, holdouts_list(workspace=self.workspace), HoldoutOutputSerializer
        )

    @extend_schema(
        request=HoldoutInputSerializer, responses=HoldoutOutputSerializer, tags=["holdouts"]
    )
    def post(self, request: Request) -> Response:
        data = HoldoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        holdout = holdout_create(
            workspace=self.workspace, data=HoldoutInput(**data.validated_data), actor=request.user
        )
        return Response(HoldoutOutputSerializer(holdout).data, status=status.HTTP_201_CREATED)


class HoldoutDetailApi(WorkspaceAPIView):
    @extend_schema(responses=HoldoutOutputSerializer, tags=["holdouts"])
    def get(self, request: Request, key: str) -> Response:
        return Response(
            HoldoutOutputSerializer(holdout_get(workspace=self.workspace, key=key)).data
        )

    @extend_schema(
        request=HoldoutChangeSerializer, responses=HoldoutOutputSerializer, tags=["holdouts"]
    )
    def patch(self, request: Request, key: str) -> Response:
        holdout = holdout_get(workspace=self.workspace, key=key)
        data = HoldoutChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        holdout = holdout_update(
            holdout=holdout, changes=dict(data.validated_data), actor=request.user
        )
        return Response(HoldoutOutputSerializer(holdout).data)


class HoldoutEndApi(WorkspaceAPIView):
    @extend_schema(request=None, responses=HoldoutOutputSerializer, tags=["holdouts"])
    def post(self, request: Request, key: str) -> Response:
        holdout = holdout_end(
            holdout=holdout_get(workspace=self.workspace, key=key), actor=request.user
        )
        return Response(HoldoutOutputSerializer(holdout).data)


class HoldoutReportApi(WorkspaceAPIView):
    """The latest comparison of the holdout with everyone else; POST queues a fresh one."""

    @extend_schema(responses=dict, tags=["holdouts"])
    def get(self, request: Request, key: str) -> Response:
        holdout = holdout_get(workspace=self.workspace, key=key)
        report = holdout_latest_report(holdout=holdout)
        if report is None:
            return Response({"report": None, "detail": "No report yet: POST here to compute one."})
        sentences = report_sentences(report)
        results: dict[str, Any] = dict(report.results)
        results["metrics"] = [
            {**m, "summary": " ".join(sentences.get(m["key"], []))} for m in results["metrics"]
        ]
        return Response(
            {
                "report": {
                    "id": report.pk,
                    "created_at": report.created_at,
                    "data_cutoff": report.data_cutoff,
                    "final": report.final,
                    **results,
                }
            }
        )

    @extend_schema(request=None, responses=dict, tags=["holdouts"])
    def post(self, request: Request, key: str) -> Response:
        holdout = holdout_get(workspace=self.workspace, key=key)
        task_enqueue_on_commit(REFRESH_HOLDOUT, args=[holdout.pk])
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
