"""The current workspace, its members and its keys."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from plg_platform.api.base import WorkspaceAPIView
from plg_platform.models import ApiKey, ApiKeyKind, Role
from plg_platform.selectors import api_keys_list, memberships_list
from plg_platform.services.keys import api_key_create, api_key_revoke
from plg_platform.services.workspaces import membership_set, user_get_or_create


class WorkspaceOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    analysis_interval_minutes = serializers.IntegerField()
    role = serializers.CharField()


class CurrentWorkspaceApi(WorkspaceAPIView):
    @extend_schema(responses=WorkspaceOutputSerializer, tags=["workspace"])
    def get(self, request: Request) -> Response:
        ws = self.workspace
        data = {
            "slug": ws.slug,
            "name": ws.name,
            "timezone": ws.timezone,
            "analysis_interval_minutes": ws.analysis_interval_minutes,
            "role": self.membership.role,
        }
        return Response(WorkspaceOutputSerializer(data).data)


class MemberInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOutputSerializer(serializers.Serializer):
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()


class MemberListApi(WorkspaceAPIView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(responses=MemberOutputSerializer(many=True), tags=["workspace"])
    def get(self, request: Request) -> Response:
        members = memberships_list(workspace=self.workspace)
        return Response(MemberOutputSerializer(members, many=True).data)

    @extend_schema(
        request=MemberInputSerializer, responses=MemberOutputSerializer, tags=["workspace"]
    )
    def post(self, request: Request) -> Response:
        data = MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_get_or_create(email=data.validated_data["email"])
        membership = membership_set(
            workspace=self.workspace,
            user=user,
            role=data.validated_data["role"],
            actor=request.user,
        )
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class KeyInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApiKeyKind.choices)
    name = serializers.CharField(max_length=200, required=False, default="")


class KeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class KeyCreatedSerializer(KeyOutputSerializer):
    key = serializers.CharField(help_text="The secret. Shown once; store it now.")


class KeyListApi(WorkspaceAPIView):
    """Keys of the workspace. Anyone may create a personal token for themselves; ingestion and
    SDK keys are for admins."""

    required_roles = {"GET": Role.ADMIN}

    @extend_schema(responses=KeyOutputSerializer(many=True), tags=["workspace"])
    def get(self, request: Request) -> Response:
        return Response(
            KeyOutputSerializer(api_keys_list(workspace=self.workspace), many=True).data
        )

    @extend_schema(request=KeyInputSerializer, responses=KeyCreatedSerializer, tags=["workspace"])
    def post(self, request: Request) -> Response:
        data = KeyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = data.validated_data["kind"]
        if kind != ApiKeyKind.PERSONAL and not self.membership.has_role(Role.ADMIN):
            self.permission_denied(request, message="Only admins create ingestion and SDK keys.")
        key, raw = api_key_create(
            workspace=self.workspace,
            kind=kind,
            name=data.validated_data["name"],
            user=request.user if kind == ApiKeyKind.PERSONAL else None,
            actor=request.user,
        )
        body = {**KeyOutputSerializer(key).data, "key": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class KeyRevokeApi(WorkspaceAPIView):
    required_role = Role.ADMIN

    @extend_schema(request=None, responses=KeyOutputSerializer, tags=["workspace"])
    def post(self, request: Request, key_id: int) -> Response:
        key = get_object_or_404(ApiKey, workspace=self.workspace, pk=key_id)
        api_key_revoke(key=key, actor=request.user)
        return Response(KeyOutputSerializer(key).data)
