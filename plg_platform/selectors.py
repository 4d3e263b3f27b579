"""Read queries of the platform app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from plg_platform.event_sinks import EventQuery, StoreEvents, sink_for
from plg_platform.models import ApiKey, Event, EventStore, Invitation, Membership, Workspace
from plg_platform.services.ingestion import to_epoch_us


def events_list(
    *,
    workspace: Workspace,
    event: str | None = None,
    distinct_id: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> QuerySet[Event] | StoreEvents:
    """Return the workspace's events matching the filters, newest first (from its columnar
    store when ingestion is routed there)."""
    if workspace.event_store != EventStore.APP:
        query = EventQuery(
            event=event or None,
            distinct_id=distinct_id or None,
            after_us=to_epoch_us(after) if after is not None else None,
            before_us=to_epoch_us(before) if before is not None else None,
        )
        return StoreEvents(sink_for(workspace.event_store), workspace.pk, query)
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


def events_overview(*, workspace: Workspace, since: datetime) -> tuple[int | None, int, int]:
    """(latest event time in microseconds or None, events since ``since``, users since then)."""
    since_us = to_epoch_us(since)
    if workspace.event_store != EventStore.APP:
        return sink_for(workspace.event_store).events_overview(workspace.pk, since_us)
    events = Event.objects.filter(workspace=workspace)
    latest = events.order_by("-timestamp_us").values_list("timestamp_us", flat=True).first()
    if latest is None:
        return None, 0, 0
    recent = events.filter(timestamp_us__gte=since_us)
    return latest, recent.count(), recent.values("distinct_id").distinct().count()


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
        ChecklistItem("event", "Send your first event", events_list(workspace=workspace).exists()),
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
