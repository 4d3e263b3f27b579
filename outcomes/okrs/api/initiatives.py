"""Initiatives (``/api/v1/initiatives/``): list and create, change and delete one."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.okrs.api.objectives import service_changes
from outcomes.okrs.models import InitiativeStatus
from outcomes.okrs.selectors import initiative_get, initiatives_list
from outcomes.okrs.services.initiatives import (
    initiative_create,
    initiative_delete,
    initiative_update,
)
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView, validated_query


class InitiativeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField(help_text="planned, in_progress, done or dropped")
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    url = serializers.CharField()
    key_results = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_key_results(self, initiative) -> list[int]:
        return sorted(kr.pk for kr in initiative.key_results.all())


class InitiativeInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(
        choices=InitiativeStatus.choices, default=InitiativeStatus.PLANNED
    )
    owner = serializers.IntegerField(required=False, allow_null=True)
    url = serializers.URLField(required=False, allow_blank=True, default="", max_length=500)
    key_results = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list
    )


class InitiativeUpdateSerializer(InitiativeInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=InitiativeStatus.choices, required=False)
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    key_results = serializers.ListField(child=serializers.IntegerField(), required=False)


class InitiativeQuerySerializer(StrictSerializer):
    key_result = serializers.IntegerField(required=False)


class InitiativeListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("key_result", int)],
        responses=InitiativeSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = validated_query(InitiativeQuerySerializer, request)
        initiatives = initiatives_list(
            workspace=self.workspace, key_result_id=params.get("key_result")
        )
        return Response(InitiativeSerializer(initiatives, many=True).data)

    @extend_schema(
        request=InitiativeInputSerializer,
        responses={201: InitiativeSerializer},
        tags=["okrs"],
        description="A deliverable (an output) linked to the key results it should move.",
    )
    def post(self, request: Request) -> Response:
        serializer = InitiativeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        initiative = initiative_create(
            workspace=self.workspace,
            title=data["title"],
            key_result_ids=data["key_results"],
            description=data["description"],
            status=data["status"],
            owner_id=data.get("owner"),
            url=data["url"],
            actor=request.user,
        )
        return Response(InitiativeSerializer(initiative).data, status=status.HTTP_201_CREATED)


class InitiativeDetailApi(WorkspaceAPIView):
    @extend_schema(responses=InitiativeSerializer, tags=["okrs"])
    def get(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        return Response(InitiativeSerializer(initiative).data)

    @extend_schema(
        request=InitiativeUpdateSerializer, responses=InitiativeSerializer, tags=["okrs"]
    )
    def patch(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        serializer = InitiativeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        initiative = initiative_update(
            initiative=initiative,
            changes=service_changes(serializer.validated_data),
            actor=request.user,
        )
        return Response(InitiativeSerializer(initiative).data)

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        initiative_delete(initiative=initiative, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
