"""A recompute on demand (``/api/v1/kpis/recompute``) and its job's progress
(``/api/v1/kpis/jobs/<id>``).
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.recompute import kpi_recompute_request
from outcomes.kpis.selectors import job_get
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.api.jobs import BackgroundJobOutputSerializer

RecomputeInputSerializer = type(
    "KpiRecomputeInputSerializer",
    (StrictSerializer,),
    {"from": serializers.DateField(), "to": serializers.DateField()},
)


class RecomputeQueuedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class KpiRecomputeApi(WorkspaceAPIView):
    @extend_schema(
        request=RecomputeInputSerializer,
        responses={202: RecomputeQueuedSerializer},
        tags=["kpis"],
        description="Recompute the KPIs of local days [from, to] from events, in the "
        "background; follow the job's progress at status_url. One at a time per workspace "
        "(409 while one is queued or running).",
    )
    def post(self, request: Request) -> Response:
        serializer = RecomputeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = kpi_recompute_request(
            workspace=self.workspace,
            date_from=data["from"],
            date_to=data["to"],
            actor=request.user,
        )
        return Response(
            {
                "job_id": job.pk,
                "status": job.status,
                "status_url": reverse("kpi-job", kwargs={"job_id": job.pk}),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class KpiJobApi(WorkspaceAPIView):
    @extend_schema(responses=BackgroundJobOutputSerializer, tags=["kpis"])
    def get(self, request: Request, job_id: int) -> Response:
        job = job_get(workspace=self.workspace, job_id=job_id)
        return Response(BackgroundJobOutputSerializer(job).data)
