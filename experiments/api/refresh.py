"""Asking for an analysis now, and following its job until the snapshot is stored."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.shared import ExperimentObjectMixin
from experiments.result_selectors import analysis_job_get
from experiments.services.analysis.refresh import experiment_refresh_request
from plg_platform.api.jobs import BackgroundJobOutputSerializer


class RefreshInputSerializer(serializers.Serializer):
    rebuild = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Rebuild the experiment's partial aggregates from all events (a refresh "
        "re-reads only the last days; events arriving later than that need a rebuild).",
    )


class RefreshOutputSerializer(serializers.Serializer):
    task_id = serializers.CharField(help_text="Celery task id of the analysis.")
    job_id = serializers.IntegerField(help_text="Poll its progress at status_url.")
    status = serializers.CharField(help_text="queued | running")
    joined = serializers.BooleanField(
        help_text="True when an analysis was already queued or running and this request "
        "joined it instead of starting another."
    )
    status_url = serializers.CharField()


class ExperimentRefreshApi(ExperimentObjectMixin):
    """Queue an analysis now (or join the one already queued or running)."""

    @extend_schema(
        request=RefreshInputSerializer,
        responses={202: RefreshOutputSerializer},
        tags=["results"],
        description="Returns at once; poll the job at status_url for progress (0 to 1). "
        "While an analysis of the experiment is queued or running, further requests join it. "
        "The finished job's result.refresh says how the metrics were computed (incremental, "
        "rebuilt or from all events) and what it cost: statements, seconds, rows read.",
    )
    def post(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = experiment_refresh_request(
            experiment=experiment, actor=request.user, rebuild=data.validated_data["rebuild"]
        )
        data = {
            "task_id": ticket.task_id,
            "job_id": ticket.job.pk,
            "status": ticket.job.status,
            "joined": ticket.joined,
            "status_url": reverse(
                "experiment-job", kwargs={"key": experiment.key, "job_id": ticket.job.pk}
            ),
        }
        return Response(RefreshOutputSerializer(data).data, status=status.HTTP_202_ACCEPTED)


class ExperimentJobApi(ExperimentObjectMixin):
    """Progress of one analysis job of the experiment."""

    @extend_schema(responses=BackgroundJobOutputSerializer, tags=["results"])
    def get(self, request: Request, key: str, job_id: int) -> Response:
        job = analysis_job_get(experiment=self.get_experiment(key), job_id=job_id)
        return Response(BackgroundJobOutputSerializer(job).data)
