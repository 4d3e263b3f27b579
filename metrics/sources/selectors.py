"""Reads of event sources, always scoped to one workspace."""

from __future__ import annotations

from django.db.models import QuerySet

from metrics.models import EventSource
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

SOURCE_NOT_FOUND = "No source {id} in this workspace."


def sources_list(*, workspace: Workspace) -> QuerySet[EventSource]:
    return EventSource.objects.filter(workspace=workspace).order_by("name")


def source_get(*, workspace: Workspace | int, source_id: int, field: str = "source") -> EventSource:
    """Return the workspace's (a workspace or its id) source ``source_id``; another
    workspace's is simply not found."""
    source = EventSource.objects.filter(workspace=workspace, pk=source_id).first()
    if source is None:
        raise NotFound(SOURCE_NOT_FOUND.format(id=source_id), field=field)
    return source
