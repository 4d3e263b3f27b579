"""Template context for every page: the current membership and the workspaces to switch to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from plg_platform.models import Membership
from plg_platform.permissions import request_membership


def workspace(request: HttpRequest) -> dict[str, Any]:
    if not request.user.is_authenticated:
        return {}
    return {
        "membership": request_membership(request),
        "workspaces": Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .order_by("workspace__name"),
    }
