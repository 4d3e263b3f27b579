"""Moving an experiment through its life: start, stop, archive, conclude with a decision."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.api.shared import ExperimentObjectMixin, ExperimentOutputSerializer
from experiments.models import Decision, Experiment
from experiments.services.design import MAX_KEY_LENGTH
from experiments.services.lifecycle import (
    MAX_RATIONALE_LENGTH,
    experiment_archive,
    experiment_conclude,
    experiment_start,
    experiment_stop,
)
from plg_platform.api.base import StrictSerializer


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


class ConcludeInputSerializer(StrictSerializer):
    decision = serializers.ChoiceField(Decision.choices)
    rationale = serializers.CharField(max_length=MAX_RATIONALE_LENGTH)
    variant = serializers.CharField(
        max_length=MAX_KEY_LENGTH, required=False, default="", allow_blank=True
    )


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
