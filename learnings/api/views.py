"""Learnings API: create and edit learnings, override effect tags, record from experiments,
and manage the product-area taxonomy. Viewers read, editors write (``WorkspaceRolePermission``).

Views are thin: validate the shape, call one service or selector, serialize the result.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.models import Experiment
from learnings.api.serializers import (
    AreaInputSerializer,
    AreaMergeSerializer,
    AreaOutputSerializer,
    AreaUpdateSerializer,
    EffectOverrideInputSerializer,
    EffectOverrideOutputSerializer,
    FromExperimentInputSerializer,
    LearningInputSerializer,
    LearningOutputSerializer,
    LearningUpdateSerializer,
    SearchPageSerializer,
    SearchQuerySerializer,
)
from learnings.models import Learning, ProductArea
from learnings.search.faceted import learnings_search
from learnings.selectors import (
    AREA_NOT_FOUND,
    effect_overrides_list,
    learning_get,
    product_area_get,
    product_areas_list,
)
from learnings.services.areas import (
    product_area_create,
    product_area_delete,
    product_area_merge,
    product_area_update,
)
from learnings.services.effects import learning_effect_override
from learnings.services.from_experiment import learning_record_from_experiment
from learnings.services.learnings import (
    Attachment,
    KeyResultRef,
    learning_create,
    learning_delete,
    learning_update,
)
from plg_platform.api.base import WorkspaceAPIView
from plg_platform.errors import ValidationFailed

TAGS = ["learnings"]
AREA_TAGS = ["learnings: product areas"]


class LearningObjectMixin(WorkspaceAPIView):
    def get_learning(self, learning_id: int) -> Learning:
        return learning_get(workspace=self.workspace, learning_id=learning_id)

    def area_or_none(self, area_id: int | None, field: str = "product_area") -> ProductArea | None:
        """Resolve an area named in a request body: unknown there is a 400 naming the field."""
        if area_id is None:
            return None
        area = ProductArea.objects.filter(workspace=self.workspace, pk=area_id).first()
        if area is None:
            raise ValidationFailed(AREA_NOT_FOUND, field=field)
        return area

    def detail(self, learning: Learning, status_code: int = status.HTTP_200_OK) -> Response:
        learning = self.get_learning(learning.pk)
        return Response(LearningOutputSerializer(learning).data, status=status_code)


def _refs(data: dict[str, Any]) -> dict[str, Any]:
    """Turn nested inputs into the services' value objects."""
    out = dict(data)
    if "key_results" in out:
        out["key_results"] = [KeyResultRef(**kr) for kr in out["key_results"]]
    if "attachments" in out:
        out["attachments"] = [Attachment(**a) for a in out["attachments"]]
    return out


class LearningListApi(LearningObjectMixin):
    """Search (with facets) and add learnings."""

    @extend_schema(
        parameters=[SearchQuerySerializer],
        responses=SearchPageSerializer,
        tags=TAGS,
        operation_id="learnings_search",
        summary="Full-text search with facet counts",
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = learnings_search(
            workspace=self.workspace,
            query=data["q"],
            filters=query.filters(),
            sort=data["sort"],
            offset=data["offset"],
            limit=data["limit"],
        )
        return Response(SearchPageSerializer(page).data)

    @extend_schema(
        request=LearningInputSerializer,
        responses={201: LearningOutputSerializer},
        tags=TAGS,
        summary="Add a learning by hand (interviews, research, support trends)",
    )
    def post(self, request: Request) -> Response:
        serializer = LearningInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _refs(serializer.validated_data)
        effects = {e["dimension"]: e["value"] for e in data.pop("effects")}
        data["product_area"] = self.area_or_none(data["product_area"])
        learning = learning_create(
            workspace=self.workspace, actor=request.user, effects=effects, **data
        )
        return self.detail(learning, status.HTTP_201_CREATED)


class LearningDetailApi(LearningObjectMixin):
    @extend_schema(responses=LearningOutputSerializer, tags=TAGS)
    def get(self, request: Request, learning_id: int) -> Response:
        return Response(LearningOutputSerializer(self.get_learning(learning_id)).data)

    @extend_schema(request=LearningUpdateSerializer, responses=LearningOutputSerializer, tags=TAGS)
    def patch(self, request: Request, learning_id: int) -> Response:
        learning = self.get_learning(learning_id)
        serializer = LearningUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = _refs(serializer.validated_data)
        if "product_area" in changes:
            changes["product_area"] = self.area_or_none(changes["product_area"])
        learning = learning_update(learning=learning, actor=request.user, changes=changes)
        return self.detail(learning)

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, learning_id: int) -> Response:
        learning_delete(learning=self.get_learning(learning_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LearningEffectsApi(LearningObjectMixin):
    @extend_schema(
        responses=EffectOverrideOutputSerializer(many=True),
        tags=TAGS,
        summary="History of the effect tags' overrides, newest first",
    )
    def get(self, request: Request, learning_id: int) -> Response:
        overrides = effect_overrides_list(learning=self.get_learning(learning_id))
        return Response(EffectOverrideOutputSerializer(overrides, many=True).data)

    @extend_schema(
        request=EffectOverrideInputSerializer,
        responses=LearningOutputSerializer,
        tags=TAGS,
        summary="Override an automatic effect tag (a reason is required)",
    )
    def post(self, request: Request, learning_id: int) -> Response:
        learning = self.get_learning(learning_id)
        serializer = EffectOverrideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        learning = learning_effect_override(
            learning=learning, actor=request.user, **serializer.validated_data
        )
        return self.detail(learning)


class LearningFromExperimentApi(LearningObjectMixin):
    @extend_schema(
        request=FromExperimentInputSerializer,
        responses={200: LearningOutputSerializer, 201: LearningOutputSerializer},
        tags=TAGS,
        summary="Create or refresh a concluded experiment's learning from its latest analysis",
    )
    def post(self, request: Request) -> Response:
        serializer = FromExperimentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        experiment = get_object_or_404(
            Experiment, workspace=self.workspace, key=serializer.validated_data["experiment"]
        )
        existed = Learning.objects.filter(experiment=experiment).exists()
        learning = learning_record_from_experiment(experiment=experiment, actor=request.user)
        return self.detail(learning, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


# --- Product areas ----------------------------------------------------------------------------


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
