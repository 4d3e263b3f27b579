"""Pages of the platform app: home and onboarding, workspace switching, first-event keys.

The home page is the onboarding page until the workspace has events: a blank slate offering
sample data, the "send your first event" snippets and the checklist of first steps.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from plg_platform.demo.config import DemoConfig
from plg_platform.demo.writer import demo_data_write
from plg_platform.models import ApiKeyKind, Membership, Role
from plg_platform.permissions import SESSION_WORKSPACE_KEY, request_membership
from plg_platform.selectors import events_list, events_overview, onboarding_checklist
from plg_platform.services.ingestion import from_epoch_us
from plg_platform.services.keys import api_key_create
from plg_platform.services.workspaces import membership_choose

# A sample small enough to write inside one request (about 30,000 events, 2-3 s on SQLite);
# the full demo (5,000 users, 180 days, metrics and login) is ``make demo``.
SAMPLE_USERS = 500
SAMPLE_DAYS = 90
SESSION_NEW_KEYS = "onboarding_new_keys"
ADMINS_ONLY_KEYS = "Only admins of the workspace create keys."
ADMINS_ONLY_SAMPLE = "Only admins of the workspace load sample data."
SAMPLE_NEEDS_EMPTY = "Sample data is only loaded into a workspace without events."
RECENT_DAYS = 7


def _membership_with_role(request: HttpRequest, role: str, message: str) -> Membership:
    membership = request_membership(request)
    if membership is None or not membership.has_role(role):
        raise PermissionDenied(message)
    return membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Onboarding for a new workspace; a short overview with the same checklist after."""
    membership = request_membership(request)
    if membership is None:
        return render(request, "plg_platform/no_workspace.html")
    workspace = membership.workspace
    checklist = onboarding_checklist(workspace=workspace)
    done = sum(1 for item in checklist if item.done)
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    latest, recent_events, recent_users = events_overview(workspace=workspace, since=since)
    return render(
        request,
        "plg_platform/home.html",
        {
            "checklist": checklist,
            "checklist_done": done,
            "checklist_percent": round(100 * done / len(checklist)),
            "is_empty": latest is None,
            "recent_days": RECENT_DAYS,
            "recent_events": recent_events,
            "recent_users": recent_users,
            "latest_event_at": from_epoch_us(latest) if latest is not None else None,
            "base_url": request.build_absolute_uri("/").rstrip("/"),
            "new_keys": request.session.pop(SESSION_NEW_KEYS, None),
            "can_admin": membership.has_role(Role.ADMIN),
            "can_edit": membership.has_role(Role.EDITOR),
            "sample_users": SAMPLE_USERS,
            "sample_days": SAMPLE_DAYS,
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
        membership_choose(membership=chosen)
    return redirect("home")


@login_required
@require_POST
def create_snippet_key(request: HttpRequest) -> HttpResponse:
    """Create an ingestion key and an SDK client key to show once in the snippets (admins)."""
    membership = _membership_with_role(request, Role.ADMIN, ADMINS_ONLY_KEYS)
    _, ingestion_key = api_key_create(
        workspace=membership.workspace,
        kind=ApiKeyKind.INGESTION,
        name="First-event snippet",
        actor=request.user,
    )
    _, sdk_client_key = api_key_create(
        workspace=membership.workspace,
        kind=ApiKeyKind.SDK,
        name="First-event snippet",
        actor=request.user,
    )
    request.session[SESSION_NEW_KEYS] = {
        "ingestion_key": ingestion_key,
        "sdk_client_key": sdk_client_key,
    }
    messages.success(
        request,
        "Two new keys are in the snippets below. Copy them now: they are shown only once.",
    )
    return redirect("home")


@login_required
@require_POST
def load_sample_data(request: HttpRequest) -> HttpResponse:
    """Write a small deterministic sample of the demo product's events (admins, empty only)."""
    membership = _membership_with_role(request, Role.ADMIN, ADMINS_ONLY_SAMPLE)
    workspace = membership.workspace
    if events_list(workspace=workspace).exists():
        messages.error(request, SAMPLE_NEEDS_EMPTY)
        return redirect("home")
    written = demo_data_write(
        workspace=workspace, config=DemoConfig(users=SAMPLE_USERS, days=SAMPLE_DAYS)
    )
    messages.success(
        request,
        f"Loaded {written.events_accepted:,} events of {written.users:,} sample users over "
        f"{SAMPLE_DAYS} days.",
    )
    return redirect("home")
