"""Shared pieces of our API views."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from plg_platform.models import Membership, Workspace
from plg_platform.permissions import request_membership


class WorkspaceAPIView(APIView):
    """An API view acting in the request's workspace (the permission class ensures one)."""

    @property
    def membership(self) -> Membership:
        membership = request_membership(self.request)
        assert membership is not None, "WorkspaceRolePermission runs before the handler"
        return membership

    @property
    def workspace(self) -> Workspace:
        return self.membership.workspace

    def paginated(
        self, request: Request, queryset: QuerySet, serializer_class: type[BaseSerializer]
    ) -> Response:
        """Return ``{"count", "next", "previous", "results"}`` for one page of ``queryset``."""
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


class StrictSerializer(serializers.Serializer):
    """A serializer that refuses unknown fields by name instead of silently ignoring them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def validated_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """Return the request's query parameters validated by ``serializer_class`` (400 if not)."""
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
