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

NOT_A_COUNT = "Must be a whole number, 0 or more."
LIMIT_NOT_POSITIVE = "Must be a whole number, 1 or more."


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """``?limit=&offset=`` paging that refuses what it cannot read (``offset=null``, ``-1``)
    with a 400 naming the parameter, instead of silently serving the first page."""

    def _read(self, request: Request, name: str, *, minimum: int) -> int | None:
        text = request.query_params.get(name)
        if text is None or text == "":
            return None
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < minimum:
            message = NOT_A_COUNT if minimum == 0 else LIMIT_NOT_POSITIVE
            raise serializers.ValidationError({name: [message]})
        return value

    def get_limit(self, request: Request) -> int | None:
        limit = self._read(request, self.limit_query_param, minimum=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit) if self.max_limit else limit

    def get_offset(self, request: Request) -> int:
        return self._read(request, self.offset_query_param, minimum=0) or 0


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
        paginator = StrictLimitOffsetPagination()
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
