"""Read queries of the platform app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from plg_platform.models import ApiKey, Event, Invitation, Membership, Workspace
from plg_platform.services.ingestion import to_epoch_us


def events_list(
    *,
    workspace: Workspace,
    event: str | None = None,
    distinct_id: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> QuerySet[Event]:
    """Return the workspace's events matching the filters, newest first."""
    queryset = Event.objects.filter(workspace=workspace)
    if event:
        queryset = queryset.filter(event=event)
    if distinct_id:
        queryset = queryset.filter(distinct_id=distinct_id)
    if after is not None:
        queryset = queryset.filter(timestamp_us__gte=to_epoch_us(after))
    if before is not None:
        queryset = queryset.filter(timestamp_us__lt=to_epoch_us(before))
    return queryset.order_by("-timestamp_us", "-id")


def api_keys_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("user").order_by("-created_at")


def memberships_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("id")


def invitations_pending_list(*, workspace: Workspace, now: datetime) -> QuerySet[Invitation]:
    """Invitations of the workspace not yet accepted, revoked or expired, newest first."""
    return (
        Invitation.objects.filter(
            workspace=workspace,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool


def onboarding_checklist(*, workspace: Workspace) -> list[ChecklistItem]:
    """Return the first steps of a new workspace and which of them are done."""
    from django.apps import apps

    def exists(label: str) -> bool:
        return apps.get_model(label).objects.filter(workspace=workspace).exists()

    return [
        ChecklistItem(
            "event", "Send your first event", Event.objects.filter(workspace=workspace).exists()
        ),
        ChecklistItem(
            "identify", "Identify users with their plan and account", exists("plg_platform.Person")
        ),
        ChecklistItem("metric", "Define a value-creation metric", exists("metrics.Metric")),
        ChecklistItem(
            "experiment", "Design your first experiment", exists("experiments.Experiment")
        ),
        ChecklistItem(
            "team",
            "Invite a teammate",
            Membership.objects.filter(workspace=workspace).count() > 1,
        ),
    ]
