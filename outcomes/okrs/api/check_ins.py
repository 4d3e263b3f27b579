"""Check-ins of a key result (``/api/v1/key-results/<id>/check-ins/``) and deleting a manual one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.okrs.selectors import check_in_get, check_ins_list, key_result_get
from outcomes.okrs.services.check_ins import check_in_create, check_in_delete
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView


class CheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    source = serializers.CharField(help_text="computed or manual")
    value = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField(allow_null=True)
    confidence = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_created_by(self, check_in) -> str | None:
        return check_in.created_by.email if check_in.created_by else None


class CheckInInputSerializer(StrictSerializer):
    confidence = serializers.IntegerField(help_text="1 (no chance) to 10 (certain).")
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    value = serializers.FloatField(required=False, allow_null=True)
    date = serializers.DateField(required=False)


class CheckInListApi(WorkspaceAPIView):
    @extend_schema(responses=CheckInSerializer(many=True), tags=["okrs"])
    def get(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        return Response(CheckInSerializer(check_ins_list(key_result=key_result), many=True).data)

    @extend_schema(
        request=CheckInInputSerializer,
        responses={201: CheckInSerializer},
        tags=["okrs"],
        description="A manual check-in: confidence and comment, optionally a value.",
    )
    def post(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = CheckInInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_in = check_in_create(
            key_result=key_result,
            confidence=data["confidence"],
            comment=data["comment"],
            value=data.get("value"),
            day=data.get("date"),
            actor=request.user,
        )
        return Response(CheckInSerializer(check_in).data, status=status.HTTP_201_CREATED)


class CheckInDetailApi(WorkspaceAPIView):
    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, check_in_id: int) -> Response:
        check_in = check_in_get(workspace=self.workspace, check_in_id=check_in_id)
        check_in_delete(check_in=check_in, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
