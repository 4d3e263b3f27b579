"""Which workspace a request acts in, and whether its role allows the method.

A personal API token acts in its own workspace; a signed-in browser session acts in the
workspace chosen with the switcher (kept in the session), falling back to the one the user
chose last in any session (``Membership.last_chosen_at``), then to the first by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import F
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from plg_platform.models import ApiKey, ApiKeyKind, Membership, Role

if TYPE_CHECKING:
    from rest_framework.views import APIView

SESSION_WORKSPACE_KEY = "workspace_id"
NOT_A_MEMBER = "You are not a member of this workspace."
ROLE_TOO_LOW = "This needs the {role} role in the workspace."
INGESTION_KEY_REQUIRED = "This endpoint takes an ingestion key."


def _django_request(request: Request | HttpRequest) -> HttpRequest:
    return request._request if isinstance(request, Request) else request


def request_membership(request: Request | HttpRequest) -> Membership | None:
    """Return the membership the request acts under (cached on the request), or None."""
    raw = _django_request(request)
    if hasattr(raw, "_plg_membership"):
        return raw._plg_membership
    auth = getattr(request, "auth", None)
    user = request.user
    membership = None
    if isinstance(auth, ApiKey) and auth.kind == ApiKeyKind.PERSONAL:
        membership = (
            Membership.objects.select_related("workspace")
            .filter(workspace_id=auth.workspace_id, user=auth.user)
            .first()
        )
    elif user is not None and user.is_authenticated:
        memberships = Membership.objects.select_related("workspace").filter(user=user)
        chosen = raw.session.get(SESSION_WORKSPACE_KEY) if hasattr(raw, "session") else None
        if chosen is not None:
            membership = memberships.filter(workspace_id=chosen).first()
        if membership is None:  # a new session: the workspace chosen last, else by name
            membership = memberships.order_by(
                F("last_chosen_at").desc(nulls_last=True), "workspace__name", "workspace_id"
            ).first()
    raw._plg_membership = membership
    return membership


class WorkspaceRolePermission(BasePermission):
    """Reads need the viewer role, writes the editor role; a view may ask for more with
    ``required_role`` (all methods) or ``required_roles = {"POST": Role.ADMIN}``."""

    message = NOT_A_MEMBER

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership = request_membership(request)
        if membership is None:
            self.message = NOT_A_MEMBER
            return False
        role = getattr(view, "required_roles", {}).get(request.method) or getattr(
            view, "required_role", None
        )
        if role is None:
            role = Role.VIEWER if request.method in SAFE_METHODS else Role.EDITOR
        if not membership.has_role(role):
            self.message = ROLE_TOO_LOW.format(role=Role(role).label.lower())
            return False
        return True


class IsIngestionKey(BasePermission):
    message = INGESTION_KEY_REQUIRED

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.kind == ApiKeyKind.INGESTION
