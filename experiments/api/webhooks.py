"""Outgoing webhooks (admins only: a webhook sends workspace data to another system):
create, edit, rotate the secret, list deliveries, ping."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from experiments.models import AlertKind
from experiments.notification_selectors import webhook_deliveries_list, webhook_get, webhooks_list
from experiments.services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_update,
)
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.models import Role


class WebhookInputSerializer(StrictSerializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(AlertKind.choices),
        required=False,
        help_text="Alert kinds to send; empty or absent means all.",
    )
    is_active = serializers.BooleanField(required=False)


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookSecretOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret. Shown this once; store it where the receiver can read it."
    )


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    notification = serializers.IntegerField(source="notification_id")
    kind = serializers.CharField(source="notification.kind")
    status = serializers.CharField(help_text="pending | delivered | failed")
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class WebhookPingOutputSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    response_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()


class _WebhookApi(WorkspaceAPIView):
    required_role = Role.ADMIN


class WebhookListApi(_WebhookApi):
    @extend_schema(responses=WebhookOutputSerializer(many=True), tags=["webhooks"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, webhooks_list(workspace=self.workspace), WebhookOutputSerializer
        )

    @extend_schema(
        request=WebhookInputSerializer,
        responses={201: WebhookSecretOutputSerializer},
        tags=["webhooks"],
        description="The response carries the signing secret, shown this once.",
    )
    def post(self, request: Request) -> Response:
        data = WebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = webhook_create(
            workspace=self.workspace,
            url=data.validated_data["url"],
            events=data.validated_data.get("events", []),
            actor=request.user,
        )
        if data.validated_data.get("is_active") is False:
            webhook_update(webhook=created.webhook, is_active=False, actor=request.user)
        body = {**WebhookOutputSerializer(created.webhook).data, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailApi(_WebhookApi):
    @extend_schema(responses=WebhookOutputSerializer, tags=["webhooks"])
    def get(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(
        request=WebhookInputSerializer(partial=True),
        responses=WebhookOutputSerializer,
        tags=["webhooks"],
    )
    def patch(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        data = WebhookInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        webhook = webhook_update(webhook=webhook, actor=request.user, **data.validated_data)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(request=None, responses={204: None}, tags=["webhooks"])
    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        webhook_delete(webhook=webhook, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(_WebhookApi):
    @extend_schema(request=None, responses=WebhookSecretOutputSerializer, tags=["webhooks"])
    def post(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        rotated = webhook_rotate_secret(webhook=webhook, actor=request.user)
        return Response({**WebhookOutputSerializer(rotated.webhook).data, "secret": rotated.secret})


class WebhookDeliveryListApi(_WebhookApi):
    @extend_schema(responses=WebhookDeliveryOutputSerializer(many=True), tags=["webhooks"])
    def get(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return self.paginated(
            request, webhook_deliveries_list(webhook=webhook), WebhookDeliveryOutputSerializer
        )


class WebhookPingApi(_WebhookApi):
    @extend_schema(request=None, responses=WebhookPingOutputSerializer, tags=["webhooks"])
    def post(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        response_status, error = webhook_ping(webhook=webhook)
        delivered = response_status is not None and 200 <= response_status < 300
        data = {"delivered": delivered, "response_status": response_status, "error": error}
        return Response(WebhookPingOutputSerializer(data).data)
