"""Moving the workspace's events to another store: ``POST /api/v1/event-store/moves/`` starts
a move (admins: it changes where every event is kept), ``GET`` lists the moves, and
``GET /api/v1/event-store/moves/<id>/`` follows one (events copied / total as progress)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from metrics.store_moves import STORE_MOVE_JOB_KIND, store_move_request
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.api.jobs import BackgroundJobOutputSerializer
from plg_platform.errors import NotFound
from plg_platform.models import BackgroundJob, Role

MOVE_NOT_FOUND = "No move of this workspace's events with id {id}."


class MoveInputSerializer(StrictSerializer):
    to = serializers.CharField(
        max_length=20, help_text="app, duckdb or chdb (the ClickHouse store; also 'clickhouse')."
    )


class MoveQueuedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class _MoveApi(WorkspaceAPIView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    def _moves(self):
        return BackgroundJob.objects.filter(workspace=self.workspace, kind=STORE_MOVE_JOB_KIND)


class StoreMoveListApi(_MoveApi):
    @extend_schema(responses=BackgroundJobOutputSerializer(many=True), tags=["sources"])
    def get(self, request: Request) -> Response:
        """The workspace's moves between event stores, newest first (admins)."""
        return self.paginated(request, self._moves(), BackgroundJobOutputSerializer)

    @extend_schema(
        request=MoveInputSerializer, responses={202: MoveQueuedSerializer}, tags=["sources"]
    )
    def post(self, request: Request) -> Response:
        """Copy every stored event and person to store ``to``, verify, then switch (admins).
        Ingestion goes on during the move. 409 while another move runs."""
        data = MoveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = store_move_request(
            workspace=self.workspace, to=data.validated_data["to"], actor=request.user
        )
        return Response(
            {
                "job_id": job.pk,
                "status": job.status,
                "status_url": reverse("event-store-move", kwargs={"job_id": job.pk}),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class StoreMoveDetailApi(_MoveApi):
    @extend_schema(responses=BackgroundJobOutputSerializer, tags=["sources"])
    def get(self, request: Request, job_id: int) -> Response:
        """One move: status, progress (events copied / total), the report or the error."""
        job = self._moves().filter(pk=job_id).first()
        if job is None:
            raise NotFound(MOVE_NOT_FOUND.format(id=job_id), field="job")
        return Response(BackgroundJobOutputSerializer(job).data)
