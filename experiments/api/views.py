"""Experiment design, lifecycle and assignment endpoints."""

from __future__ import annotations

import json

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.api.serializers import (
    AssignmentOutputSerializer,
    ConcludeInputSerializer,
    DesignInputSerializer,
    ExperimentOutputSerializer,
    JobOutputSerializer,
    MarkedReadOutputSerializer,
    NotificationOutputSerializer,
    NotificationQuerySerializer,
    RefreshOutputSerializer,
    ResultsOutputSerializer,
    ResultsQuerySerializer,
    SnapshotOutputSerializer,
    WebhookDeliveryOutputSerializer,
    WebhookInputSerializer,
    WebhookOutputSerializer,
    WebhookPingOutputSerializer,
    WebhookSecretOutputSerializer,
    design_changes,
    design_from_input,
)
from experiments.models import Experiment
from experiments.selectors import (
    analysis_job_get,
    experiment_results,
    experiments_list,
    notification_get,
    notifications_list,
    snapshot_get,
    webhook_deliveries_list,
    webhook_get,
    webhooks_list,
)
from experiments.services.alerts import notification_mark_read, notifications_mark_all_read
from experiments.services.analysis import experiment_refresh_request
from experiments.services.assignment import sdk_payload, unit_assign
from experiments.services.design import experiment_create, experiment_update
from experiments.services.lifecycle import (
    experiment_archive,
    experiment_conclude,
    experiment_start,
    experiment_stop,
)
from experiments.services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_update,
)
from plg_platform.api.base import WorkspaceAPIView
from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKeyKind, Role
from plg_platform.services.keys import api_key_authenticate

BAD_ATTRIBUTES = "attributes must be a JSON object of unit properties."


class ExperimentObjectMixin(WorkspaceAPIView):
    def get_experiment(self, key: str) -> Experiment:
        return get_object_or_404(Experiment, workspace=self.workspace, key=key)


class ExperimentListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str), OpenApiParameter("q", str)],
        responses=ExperimentOutputSerializer(many=True),
        tags=["experiments"],
    )
    def get(self, request: Request) -> Response:
        queryset = experiments_list(
            workspace=self.workspace,
            status=request.query_params.get("status"),
            search=request.query_params.get("q"),
        )
        return self.paginated(request, queryset, ExperimentOutputSerializer)

    @extend_schema(
        request=DesignInputSerializer, responses=ExperimentOutputSerializer, tags=["experiments"]
    )
    def post(self, request: Request) -> Response:
        data = DesignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiment_create(
            workspace=self.workspace,
            design=design_from_input(data.validated_data),
            actor=request.user,
        )
        return Response(ExperimentOutputSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(ExperimentObjectMixin):
    @extend_schema(responses=ExperimentOutputSerializer, tags=["experiments"])
    def get(self, request: Request, key: str) -> Response:
        return Response(ExperimentOutputSerializer(self.get_experiment(key)).data)

    @extend_schema(
        request=DesignInputSerializer(partial=True),
        responses=ExperimentOutputSerializer,
        tags=["experiments"],
    )
    def patch(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        data = DesignInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        experiment = experiment_update(
            experiment=experiment,
            changes=design_changes(data.validated_data),
            actor=request.user,
            phase_reason=data.validated_data.get("phase_reason", ""),
        )
        return Response(ExperimentOutputSerializer(experiment).data)


class _TransitionApi(ExperimentObjectMixin):
    @extend_schema(request=None, responses=ExperimentOutputSerializer, tags=["experiments"])
    def post(self, request: Request, key: str) -> Response:
        experiment = self.transition(self.get_experiment(key), request)
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentStartApi(_TransitionApi):
    def transition(self, experiment: Experiment, request: Request) -> Experiment:
        return experiment_start(experiment=experiment, actor=request.user)


class ExperimentStopApi(_TransitionApi):
    def transition(self, experiment: Experiment, request: Request) -> Experiment:
        return experiment_stop(experiment=experiment, actor=request.user)


class ExperimentArchiveApi(_TransitionApi):
    def transition(self, experiment: Experiment, request: Request) -> Experiment:
        return experiment_archive(experiment=experiment, actor=request.user)


class ExperimentConcludeApi(ExperimentObjectMixin):
    @extend_schema(
        request=ConcludeInputSerializer, responses=ExperimentOutputSerializer, tags=["experiments"]
    )
    def post(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        data = ConcludeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiment_conclude(
            experiment=experiment, actor=request.user, **data.validated_data
        )
        return Response(ExperimentOutputSerializer(experiment).data)


class AssignmentQuerySerializer(serializers.Serializer):
    unit_id = serializers.CharField(max_length=200)
    attributes = serializers.CharField(required=False, help_text="JSON object of unit properties")
    log_exposure = serializers.BooleanField(required=False, default=True)


class AssignmentApi(ExperimentObjectMixin):
    """The variant a unit gets (exactly what the GrowthBook SDKs pick), logging the exposure."""

    @extend_schema(
        parameters=[AssignmentQuerySerializer],
        responses=AssignmentOutputSerializer,
        tags=["experiments"],
    )
    def get(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        query = AssignmentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        attributes = None
        if "attributes" in query.validated_data:
            try:
                attributes = json.loads(query.validated_data["attributes"])
            except ValueError:
                attributes = None
            if not isinstance(attributes, dict):
                raise ValidationFailed(BAD_ATTRIBUTES, field="attributes")
        result = unit_assign(
            experiment=experiment,
            unit_id=query.validated_data["unit_id"],
            attributes=attributes,
            log_exposure=query.validated_data["log_exposure"],
        )
        return Response(AssignmentOutputSerializer(result).data)


class FeaturesPayloadApi(APIView):
    """GrowthBook SDK endpoint: ``GET /api/features/<client_key>`` (public SDK key)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses=dict, tags=["sdk"])
    def get(self, request: Request, client_key: str) -> Response:
        key = api_key_authenticate(raw_key=client_key, kind=ApiKeyKind.SDK)
        if key is None:
            return Response(
                {
                    "detail": "Unknown SDK client key.",
                    "errors": {"client_key": ["Unknown SDK client key."]},
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(sdk_payload(workspace=key.workspace))


# --- Analysis: refresh, job progress, results ----------------------------------------------------


class ExperimentRefreshApi(ExperimentObjectMixin):
    """Queue an analysis now (or join the one already queued or running)."""

    @extend_schema(
        request=None,
        responses={202: RefreshOutputSerializer},
        tags=["results"],
        description="Returns at once; poll the job at status_url for progress (0 to 1). "
        "While an analysis of the experiment is queued or running, further requests join it.",
    )
    def post(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        ticket = experiment_refresh_request(experiment=experiment, actor=request.user)
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

    @extend_schema(responses=JobOutputSerializer, tags=["results"])
    def get(self, request: Request, key: str, job_id: int) -> Response:
        job = analysis_job_get(experiment=self.get_experiment(key), job_id=job_id)
        return Response(JobOutputSerializer(job).data)


class ExperimentResultsApi(ExperimentObjectMixin):
    """The latest analysis, its lift-over-time history, health and plain-language summaries."""

    @extend_schema(
        parameters=[ResultsQuerySerializer],
        responses=ResultsOutputSerializer,
        tags=["results"],
    )
    def get(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        results = experiment_results(
            experiment=experiment, phase_number=query.validated_data.get("phase")
        )
        return Response(ResultsOutputSerializer(results).data)


class ExperimentSnapshotApi(ExperimentObjectMixin):
    """One stored analysis in full: its inputs (sufficient statistics), settings and outputs."""

    @extend_schema(responses=SnapshotOutputSerializer, tags=["results"])
    def get(self, request: Request, key: str, snapshot_id: int) -> Response:
        snapshot = snapshot_get(experiment=self.get_experiment(key), snapshot_id=snapshot_id)
        return Response(SnapshotOutputSerializer(snapshot).data)


# --- Notifications -------------------------------------------------------------------------------


class NotificationListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[NotificationQuerySerializer],
        responses=NotificationOutputSerializer(many=True),
        tags=["notifications"],
    )
    def get(self, request: Request) -> Response:
        query = NotificationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = notifications_list(
            workspace=self.workspace,
            unread=query.validated_data.get("unread"),
            experiment_key=query.validated_data.get("experiment"),
        )
        return self.paginated(request, queryset, NotificationOutputSerializer)


class NotificationReadApi(WorkspaceAPIView):
    # Anyone who can see a notification may mark it read.
    required_roles = {"POST": Role.VIEWER}

    @extend_schema(request=None, responses=NotificationOutputSerializer, tags=["notifications"])
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_get(workspace=self.workspace, notification_id=notification_id)
        notification = notification_mark_read(notification=notification)
        return Response(NotificationOutputSerializer(notification).data)


class NotificationReadAllApi(WorkspaceAPIView):
    required_roles = {"POST": Role.VIEWER}

    @extend_schema(request=None, responses=MarkedReadOutputSerializer, tags=["notifications"])
    def post(self, request: Request) -> Response:
        marked = notifications_mark_all_read(workspace=self.workspace)
        return Response(MarkedReadOutputSerializer({"marked": marked}).data)


# --- Webhooks (admins only: a webhook sends workspace data to another system) -------------------


class _WebhookApi(WorkspaceAPIView):
    required_role = Role.ADMIN


class WebhookListApi(_WebhookApi):
    @extend_schema(responses=WebhookOutputSerializer(many=True), tags=["webhooks"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, webhooks_list(workspace=self.workspace), WebhookOutputSerializer
        )

    @extend_schema(
        request=WebhookInputSerializer,
        responses={201: WebhookSecretOutputSerializer},
        tags=["webhooks"],
        description="The response carries the signing secret, shown this once.",
    )
    def post(self, request: Request) -> Response:
        data = WebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = webhook_create(
            workspace=self.workspace,
            url=data.validated_data["url"],
            events=data.validated_data.get("events", []),
            actor=request.user,
        )
        if data.validated_data.get("is_active") is False:
            webhook_update(webhook=created.webhook, is_active=False, actor=request.user)
        body = {**WebhookOutputSerializer(created.webhook).data, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailApi(_WebhookApi):
    @extend_schema(responses=WebhookOutputSerializer, tags=["webhooks"])
    def get(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(
        request=WebhookInputSerializer(partial=True),
        responses=WebhookOutputSerializer,
        tags=["webhooks"],
    )
    def patch(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        data = WebhookInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        webhook = webhook_update(webhook=webhook, actor=request.user, **data.validated_data)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(request=None, responses={204: None}, tags=["webhooks"])
    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        webhook_delete(webhook=webhook, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(_WebhookApi):
    @extend_schema(request=None, responses=WebhookSecretOutputSerializer, tags=["webhooks"])
    def post(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        rotated = webhook_rotate_secret(webhook=webhook, actor=request.user)
        return Response({**WebhookOutputSerializer(rotated.webhook).data, "secret": rotated.secret})


class WebhookDeliveryListApi(_WebhookApi):
    @extend_schema(responses=WebhookDeliveryOutputSerializer(many=True), tags=["webhooks"])
    def get(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return self.paginated(
            request, webhook_deliveries_list(webhook=webhook), WebhookDeliveryOutputSerializer
        )


class WebhookPingApi(_WebhookApi):
    @extend_schema(request=None, responses=WebhookPingOutputSerializer, tags=["webhooks"])
    def post(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        response_status, error = webhook_ping(webhook=webhook)
        delivered = response_status is not None and 200 <= response_status < 300
        data = {"delivered": delivered, "response_status": response_status, "error": error}
        return Response(WebhookPingOutputSerializer(data).data)
