"""Reads of metric definitions, always scoped to one workspace."""

from __future__ import annotations

from django.db.models import QuerySet

from metrics.models import Metric
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

METRIC_NOT_FOUND = "No metric {key!r} in this workspace."


def metrics_list(*, workspace: Workspace) -> QuerySet[Metric]:
    return Metric.objects.filter(workspace=workspace).order_by("key")


def metric_get(*, workspace: Workspace, key: str) -> Metric:
    """Return the workspace's metric ``key``; another workspace's metric is simply not found."""
    metric = Metric.objects.filter(workspace=workspace, key=key).first()
    if metric is None:
        raise NotFound(METRIC_NOT_FOUND.format(key=key), field="key")
    return metric
