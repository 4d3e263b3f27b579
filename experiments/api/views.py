"""Experiment design, lifecycle and assignment endpoints."""

from __future__ import annotations

import json

from django.shortcuts import get_object_or_404
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
    design_changes,
    design_from_input,
)
from experiments.models import Experiment
from experiments.selectors import experiments_list
from experiments.services.assignment import sdk_payload, unit_assign
from experiments.services.design import experiment_create, experiment_update
from experiments.services.lifecycle import (
    experiment_archive,
    experiment_conclude,
    experiment_start,
    experiment_stop,
)
from plg_platform.api.base import WorkspaceAPIView
from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKeyKind
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
