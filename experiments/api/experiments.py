"""Experiments as a collection: list, create, read and edit one (``/api/v1/experiments/``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.design import DesignInputSerializer, design_changes, design_from_input
from experiments.api.shared import ExperimentObjectMixin, ExperimentOutputSerializer
from experiments.selectors import experiments_list
from experiments.services.design import experiment_create, experiment_update
from plg_platform.api.base import WorkspaceAPIView


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
