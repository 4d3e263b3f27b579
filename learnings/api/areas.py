"""The product-area taxonomy: list, create, rename, move, delete and merge areas."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from learnings.api.shared import LearningObjectMixin
from learnings.selectors import product_area_get, product_areas_list
from learnings.services.areas import (
    product_area_create,
    product_area_delete,
    product_area_merge,
    product_area_update,
)
from plg_platform.api.base import StrictSerializer

AREA_TAGS = ["learnings: product areas"]


class AreaInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    parent = serializers.IntegerField(required=False, allow_null=True, default=None)


class AreaUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    parent = serializers.IntegerField(
        required=False, allow_null=True, help_text="Move under this area; null moves to the top."
    )


class AreaMergeSerializer(StrictSerializer):
    into = serializers.IntegerField(help_text="The area that takes over the learnings.")


class AreaOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    depth = serializers.SerializerMethodField()

    def get_depth(self, area) -> int:
        return area.id_path.count("/") - 2


class ProductAreaListApi(LearningObjectMixin):
    @extend_schema(responses=AreaOutputSerializer(many=True), tags=AREA_TAGS)
    def get(self, request: Request) -> Response:
        areas = product_areas_list(workspace=self.workspace)
        return Response(AreaOutputSerializer(areas, many=True).data)

    @extend_schema(
        request=AreaInputSerializer, responses={201: AreaOutputSerializer}, tags=AREA_TAGS
    )
    def post(self, request: Request) -> Response:
        serializer = AreaInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        area = product_area_create(
            workspace=self.workspace,
            name=serializer.validated_data["name"],
            parent=self.area_or_none(serializer.validated_data["parent"], "parent"),
            actor=request.user,
        )
        return Response(AreaOutputSerializer(area).data, status=status.HTTP_201_CREATED)


class ProductAreaDetailApi(LearningObjectMixin):
    @extend_schema(responses=AreaOutputSerializer, tags=AREA_TAGS)
    def get(self, request: Request, area_id: int) -> Response:
        area = product_area_get(workspace=self.workspace, area_id=area_id)
        return Response(AreaOutputSerializer(area).data)

    @extend_schema(
        request=AreaUpdateSerializer,
        responses=AreaOutputSerializer,
        tags=AREA_TAGS,
        summary="Rename and/or move an area; its learnings keep their tag",
    )
    def patch(self, request: Request, area_id: int) -> Response:
        area = product_area_get(workspace=self.workspace, area_id=area_id)
        serializer = AreaUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        area = product_area_update(
            area=area,
            actor=request.user,
            name=data.get("name"),
            parent=self.area_or_none(data.get("parent"), "parent"),
            move="parent" in data,
        )
        return Response(AreaOutputSerializer(area).data)

    @extend_schema(responses={204: None}, tags=AREA_TAGS, summary="Delete an empty area")
    def delete(self, request: Request, area_id: int) -> Response:
        area = product_area_get(workspace=self.workspace, area_id=area_id)
        product_area_delete(area=area, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductAreaMergeApi(LearningObjectMixin):
    @extend_schema(
        request=AreaMergeSerializer,
        responses=AreaOutputSerializer,
        tags=AREA_TAGS,
        summary="Merge this area (and its sub-areas) into another; learnings move with it",
    )
    def post(self, request: Request, area_id: int) -> Response:
        source = product_area_get(workspace=self.workspace, area_id=area_id)
        serializer = AreaMergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = product_area_get(
            workspace=self.workspace, area_id=serializer.validated_data["into"], field="into"
        )
        area = product_area_merge(source=source, target=target, actor=request.user)
        return Response(AreaOutputSerializer(area).data)
