"""Objectives (``/api/v1/objectives/``): list and create, read, change and delete one, and the
tree of objectives with their key results.
"""

from __future__ import annotations

from datetime import date

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.okrs.api.key_results import OkrKeyResultSerializer, summary_data
from outcomes.okrs.models import Objective
from outcomes.okrs.selectors import (
    KeyResultSummary,
    ObjectiveNode,
    key_result_summary,
    key_results_list,
    objective_get,
    objective_tree,
    objectives_list,
)
from outcomes.okrs.services.objectives import objective_create, objective_delete, objective_update
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query
from plg_platform.clock import local_today


class OkrObjectiveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    why_it_matters = serializers.CharField()
    owner = serializers.IntegerField(allow_null=True)
    owner_email = serializers.CharField(allow_null=True)
    team = serializers.CharField()
    period_kind = serializers.CharField(help_text="quarter or custom")
    quarter = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    parent = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="The worst status of its key results.")
    key_results = OkrKeyResultSerializer(many=True)
    created_at = serializers.DateTimeField()


def _objective_data(objective: Objective, summaries: list[KeyResultSummary]) -> dict:
    statuses = [s.status for s in summaries if s.status != "no_data"]
    order = ("off_track", "at_risk", "on_track")
    return {
        "id": objective.pk,
        "title": objective.title,
        "why_it_matters": objective.why_it_matters,
        "owner": objective.owner_id,
        "owner_email": objective.owner.email if objective.owner else None,
        "team": objective.team,
        "period_kind": objective.period_kind,
        "quarter": objective.quarter,
        "period_start": objective.period_start,
        "period_end": objective.period_end,
        "parent": objective.parent_id,
        "status": min(statuses, key=order.index) if statuses else "no_data",
        "key_results": [summary_data(s) for s in summaries],
        "created_at": objective.created_at,
    }


def _objectives_data(workspace, objectives: list[Objective]) -> list[dict]:
    today = local_today(workspace)
    by_objective: dict[int, list[KeyResultSummary]] = {o.pk: [] for o in objectives}
    for kr in key_results_list(workspace=workspace).filter(objective_id__in=list(by_objective)):
        by_objective[kr.objective_id].append(key_result_summary(key_result=kr, today=today))
    return [_objective_data(o, by_objective[o.pk]) for o in objectives]


class OkrObjectiveInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    why_it_matters = serializers.CharField(required=False, allow_blank=True, default="")
    owner = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    quarter = serializers.CharField(required=False, allow_blank=True, default="")
    period_start = serializers.DateField(required=False, allow_null=True)
    period_end = serializers.DateField(required=False, allow_null=True)
    parent = serializers.IntegerField(required=False, allow_null=True)


class ObjectiveQuerySerializer(StrictSerializer):
    on = serializers.DateField(required=False)
    team = serializers.CharField(required=False, allow_blank=True)


class ObjectiveListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("on", date, description="Only objectives whose period holds it"),
            OpenApiParameter("team", str),
        ],
        responses=OkrObjectiveSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = validated_query(ObjectiveQuerySerializer, request)
        objectives = list(
            objectives_list(workspace=self.workspace, on=params.get("on"), team=params.get("team"))
        )
        return Response(_objectives_data(self.workspace, objectives))

    @extend_schema(
        request=OkrObjectiveInputSerializer,
        responses={201: OkrObjectiveSerializer},
        tags=["okrs"],
        description="Give a quarter (YYYY-Qn) or period_start and period_end.",
    )
    def post(self, request: Request) -> Response:
        serializer = OkrObjectiveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        objective = objective_create(
            workspace=self.workspace,
            title=data["title"],
            why_it_matters=data["why_it_matters"],
            owner_id=data.get("owner"),
            team=data["team"],
            quarter=data["quarter"],
            period_start=data.get("period_start"),
            period_end=data.get("period_end"),
            parent_id=data.get("parent"),
            actor=request.user,
        )
        return Response(_objective_data(objective, []), status=status.HTTP_201_CREATED)


class OkrObjectiveUpdateSerializer(OkrObjectiveInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    why_it_matters = serializers.CharField(required=False, allow_blank=True)
    team = serializers.CharField(required=False, allow_blank=True, max_length=100)
    quarter = serializers.CharField(required=False, allow_blank=True)


_RENAMED = {"owner": "owner_id", "parent": "parent_id", "key_results": "key_result_ids"}


def service_changes(data: dict) -> dict:
    return {_RENAMED.get(name, name): value for name, value in data.items()}


class ObjectiveDetailApi(WorkspaceAPIView):
    @extend_schema(responses=OkrObjectiveSerializer, tags=["okrs"])
    def get(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        return Response(_objectives_data(self.workspace, [objective])[0])

    @extend_schema(
        request=OkrObjectiveUpdateSerializer, responses=OkrObjectiveSerializer, tags=["okrs"]
    )
    def patch(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        serializer = OkrObjectiveUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        objective = objective_update(
            objective=objective,
            changes=service_changes(serializer.validated_data),
            actor=request.user,
        )
        return Response(_objectives_data(self.workspace, [objective])[0])

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        objective_delete(objective=objective, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OkrTreeNodeSerializer(OkrObjectiveSerializer):
    children = serializers.ListField(
        child=serializers.DictField(), help_text="Sub-objectives, in the same shape."
    )


def _node_data(node: ObjectiveNode) -> dict:
    return {
        **_objective_data(node.objective, node.key_results),
        "status": node.status,
        "children": [_node_data(child) for child in node.children],
    }


class ObjectiveTreeApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("on", date, description="Only objectives whose period holds it")
        ],
        responses=OkrTreeNodeSerializer(many=True),
        tags=["okrs"],
        description="Objectives aligned under their parents, with key results' status.",
    )
    def get(self, request: Request) -> Response:
        params = validated_query(ObjectiveQuerySerializer, request)
        tree = objective_tree(
            workspace=self.workspace, on=params.get("on"), today=local_today(self.workspace)
        )
        return Response([_node_data(node) for node in tree])
