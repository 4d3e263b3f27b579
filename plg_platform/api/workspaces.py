"""The current workspace, its members, invitations and keys; accepting an invitation."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plg_platform.api.base import WorkspaceAPIView
from plg_platform.models import ApiKey, ApiKeyKind, Invitation, Role
from plg_platform.selectors import api_keys_list, invitations_pending_list, memberships_list
from plg_platform.services.invitations import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    invitation_send,
)
from plg_platform.services.keys import api_key_create, api_key_revoke


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


class InvitationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    status = serializers.CharField()
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class InvitedOutputSerializer(InvitationOutputSerializer):
    accept_url = serializers.URLField(
        help_text="The invitee's link (also e-mailed). Shown once; it works once."
    )


def _with_status(invitation: Invitation) -> Invitation:
    invitation.status = invitation.status_at(timezone.now())
    return invitation


def _accept_url(request: Request, token: str) -> str:
    return request.build_absolute_uri(reverse("invitation", args=[token]))


class MemberListApi(WorkspaceAPIView):
    """Members of the workspace. Adding someone (admins) sends an invitation: they become a
    member only once they accept it."""

    required_roles = {"POST": Role.ADMIN}

    @extend_schema(responses=MemberOutputSerializer(many=True), tags=["workspace"])
    def get(self, request: Request) -> Response:
        members = memberships_list(workspace=self.workspace)
        return Response(MemberOutputSerializer(members, many=True).data)

    @extend_schema(
        request=MemberInputSerializer,
        responses={201: InvitedOutputSerializer},
        tags=["workspace"],
        description="Invite an e-mail address (status `invited`); nobody joins without "
        "accepting. 409 when the address is already a member.",
    )
    def post(self, request: Request) -> Response:
        data = MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = invitation_create(
            workspace=self.workspace,
            email=data.validated_data["email"],
            role=data.validated_data["role"],
            actor=request.user,
        )
        url = _accept_url(request, created.token)
        invitation_send(invitation=created.invitation, accept_url=url)
        body = {
            **InvitationOutputSerializer(_with_status(created.invitation)).data,
            "status": "invited",
            "accept_url": url,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class InvitationListApi(WorkspaceAPIView):
    required_role = Role.ADMIN

    @extend_schema(responses=InvitationOutputSerializer(many=True), tags=["workspace"])
    def get(self, request: Request) -> Response:
        pending = invitations_pending_list(workspace=self.workspace, now=timezone.now())
        return Response(
            InvitationOutputSerializer([_with_status(i) for i in pending], many=True).data
        )


class InvitationRevokeApi(WorkspaceAPIView):
    required_role = Role.ADMIN

    @extend_schema(request=None, responses=InvitationOutputSerializer, tags=["workspace"])
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = get_object_or_404(Invitation, workspace=self.workspace, pk=invitation_id)
        invitation_revoke(invitation=invitation, actor=request.user)
        return Response(InvitationOutputSerializer(_with_status(invitation)).data)


class InvitationAcceptInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class InvitationAcceptedOutputSerializer(serializers.Serializer):
    workspace = serializers.CharField(source="workspace.slug")
    role = serializers.CharField()


class InvitationAcceptApi(APIView):
    """Accept an invitation as the signed-in user (session or personal API token), whose
    e-mail must be the invited one. Not tied to a workspace: the user is not a member yet."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=InvitationAcceptInputSerializer,
        responses=InvitationAcceptedOutputSerializer,
        tags=["workspace"],
    )
    def post(self, request: Request) -> Response:
        data = InvitationAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = invitation_accept(token=data.validated_data["token"], user=request.user)
        return Response(InvitationAcceptedOutputSerializer(membership).data)


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
