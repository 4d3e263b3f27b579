"""Experiments as a collection: list, create, read and edit one (``/api/v1/experiments/``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.design import DesignInputSerializer, design_changes, design_from_input
from experiments.api.shared import ExperimentObjectMixin, ExperimentOutputSerializer
from experiments.plan_selectors import current_plan, plan_record, template_get, template_plan
from experiments.selectors import experiments_list
from experiments.services.design import experiment_create, experiment_update
from experiments.services.templates import experiment_create_from_template
from plg_platform.api.base import WorkspaceAPIView
from plg_platform.errors import NotFound, ValidationFailed

PRIMARY_REQUIRED = "This field is required (unless the experiment is created from a template)."
TEMPLATE_ONLY_ON_CREATE = "A template applies when an experiment is created, not afterwards."


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
        validated = data.validated_data
        if validated.get("template"):
            try:
                template = template_get(workspace=self.workspace, key=validated["template"])
            except NotFound as error:
                raise ValidationFailed(error.message, field="template") from None
            experiment = experiment_create_from_template(
                workspace=self.workspace,
                template=template,
                design=design_changes(validated, rule=template_plan(template).decision_rule),
                actor=request.user,
            )
        else:
            if "primary_metric" not in validated:
                raise serializers.ValidationError({"primary_metric": [PRIMARY_REQUIRED]})
            experiment = experiment_create(
                workspace=self.workspace, design=design_from_input(validated), actor=request.user
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
        validated = data.validated_data
        if "template" in validated:
            raise ValidationFailed(TEMPLATE_ONLY_ON_CREATE, field="template")
        rule = current_plan(experiment, plan_record(experiment)).decision_rule
        experiment = experiment_update(
            experiment=experiment,
            changes=design_changes(validated, rule=rule),
            actor=request.user,
            phase_reason=validated.get("phase_reason", ""),
            reason=validated.get("reason", ""),
        )
        return Response(ExperimentOutputSerializer(experiment).data)
