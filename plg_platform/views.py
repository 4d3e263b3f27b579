"""Pages of the platform app: home and onboarding, workspace switching, first-event keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from plg_platform.models import ApiKeyKind, Membership, Role
from plg_platform.permissions import SESSION_WORKSPACE_KEY, request_membership
from plg_platform.selectors import onboarding_checklist
from plg_platform.services.keys import api_key_create


@login_required
def home(request: HttpRequest) -> HttpResponse:
    membership = request_membership(request)
    if membership is None:
        return render(request, "plg_platform/no_workspace.html")
    checklist = onboarding_checklist(workspace=membership.workspace)
    return render(
        request,
        "plg_platform/home.html",
        {
            "checklist": checklist,
            "is_empty": not checklist[0].done,
            "base_url": request.build_absolute_uri("/").rstrip("/"),
            "new_ingestion_key": request.session.pop("new_ingestion_key", None),
            "can_admin": membership.has_role(Role.ADMIN),
        },
    )


@login_required
@require_POST
def switch_workspace(request: HttpRequest) -> HttpResponse:
    chosen = Membership.objects.filter(
        user=request.user, workspace_id=request.POST.get("workspace")
    ).first()
    if chosen is not None:
        request.session[SESSION_WORKSPACE_KEY] = chosen.workspace_id
    return redirect("home")


@login_required
@require_POST
def create_snippet_key(request: HttpRequest) -> HttpResponse:
    """Create an ingestion key to show once in the first-event snippet (admins only)."""
    membership = request_membership(request)
    if membership is None or not membership.has_role(Role.ADMIN):
        return HttpResponseForbidden("Only admins create ingestion keys.")
    _, raw = api_key_create(
        workspace=membership.workspace,
        kind=ApiKeyKind.INGESTION,
        name="First-event snippet",
        actor=request.user,
    )
    request.session["new_ingestion_key"] = raw
    messages.success(request, "A new ingestion key is in the snippet below. It is shown once.")
    return redirect("home")
