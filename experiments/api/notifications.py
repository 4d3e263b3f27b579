"""In-app notifications (alerts raised by analyses): list, mark read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.notification_selectors import notification_get, notifications_list
from experiments.services.alerts import notification_mark_read, notifications_mark_all_read
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.models import Role


class NotificationQuerySerializer(StrictSerializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    experiment = serializers.SlugField(required=False)
    limit = serializers.IntegerField(min_value=1, required=False)
    offset = serializers.IntegerField(min_value=0, required=False)


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    experiment = serializers.CharField(source="experiment.key", allow_null=True, default=None)
    title = serializers.CharField()
    body = serializers.CharField()
    payload = serializers.DictField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class MarkedReadOutputSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class NotificationListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[NotificationQuerySerializer],
        responses=NotificationOutputSerializer(many=True),
        tags=["notifications"],
    )
    def get(self, request: Request) -> Response:
        query = NotificationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = notifications_list(
            workspace=self.workspace,
            unread=query.validated_data.get("unread"),
            experiment_key=query.validated_data.get("experiment"),
        )
        return self.paginated(request, queryset, NotificationOutputSerializer)


class NotificationReadApi(WorkspaceAPIView):
    # Anyone who can see a notification may mark it read.
    required_roles = {"POST": Role.VIEWER}

    @extend_schema(request=None, responses=NotificationOutputSerializer, tags=["notifications"])
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_get(workspace=self.workspace, notification_id=notification_id)
        notification = notification_mark_read(notification=notification)
        return Response(NotificationOutputSerializer(notification).data)


class NotificationReadAllApi(WorkspaceAPIView):
    required_roles = {"POST": Role.VIEWER}

    @extend_schema(request=None, responses=MarkedReadOutputSerializer, tags=["notifications"])
    def post(self, request: Request) -> Response:
        marked = notifications_mark_all_read(workspace=self.workspace)
        return Response(MarkedReadOutputSerializer({"marked": marked}).data)
