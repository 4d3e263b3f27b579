"""Read queries of holdouts: the list, one holdout, the one active at a moment, its spec."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Count, QuerySet

from experiments.assignment import HoldoutSpec
from experiments.holdouts.impact import MetricImpact, ShippedLift, impact_sentences
from experiments.holdouts.models import Holdout, HoldoutReport
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

HOLDOUT_NOT_FOUND = "No holdout {key!r} in this workspace."


def holdouts_list(*, workspace: Workspace) -> QuerySet[Holdout]:
    return Holdout.objects.filter(workspace=workspace).order_by("-starts_at", "-id")


def holdout_get(*, workspace: Workspace, key: str) -> Holdout:
    """Return the workspace's holdout ``key``, or a 404 naming it."""
    holdout = Holdout.objects.filter(workspace=workspace, key=key).first()
    if holdout is None:
        raise NotFound(HOLDOUT_NOT_FOUND.format(key=key), field="key")
    return holdout


def holdout_active(*, workspace_id: int, at: datetime | None = None) -> Holdout | None:
    """Return the holdout whose period [starts_at, ends_at) contains ``at`` (now), if any.
    Periods of one workspace never overlap (``holdout_create`` refuses it)."""
    moment = at or datetime.now(tz=UTC)
    return (
        Holdout.objects.filter(workspace_id=workspace_id, starts_at__lte=moment, ends_at__gt=moment)
        .order_by("-starts_at")
        .first()
    )


def holdout_spec(holdout: Holdout) -> HoldoutSpec:
    return HoldoutSpec(
        key=holdout.key,
        seed=holdout.hash_seed,
        share=holdout.share,
        hash_attribute=holdout.hash_attribute or "id",
    )


def holdout_status(holdout: Holdout, *, at: datetime | None = None) -> str:
    """``scheduled``, ``running`` or ``ended`` at ``at`` (now)."""
    moment = at or datetime.now(tz=UTC)
    if moment < holdout.starts_at:
        return "scheduled"
    return "running" if moment < holdout.ends_at else "ended"


def holdout_unit_counts(*, holdout: Holdout) -> dict[str, int]:
    """Units seen so far in each arm."""
    rows = holdout.units.values("arm").annotate(n=Count("id")).order_by()
    return {row["arm"]: row["n"] for row in rows}


def holdout_latest_report(*, holdout: Holdout) -> HoldoutReport | None:
    return holdout.reports.order_by("-data_cutoff", "-id").first()


def report_sentences(report: HoldoutReport) -> dict[str, list[str]]:
    """{metric key: plain-language sentences} of a stored report."""
    sentences = {}
    for entry in report.results.get("metrics", []):
        fields = {**entry, "shipped": [ShippedLift(**s) for s in entry.get("shipped", [])]}
        sentences[entry["key"]] = impact_sentences(MetricImpact(**fields))
    return sentences
