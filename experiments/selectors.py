"""Read queries of experiments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from experiments.models import Experiment
from plg_platform.models import Workspace


def experiments_list(
    *, workspace: Workspace, status: str | None = None, search: str | None = None
) -> QuerySet[Experiment]:
    queryset = Experiment.objects.filter(workspace=workspace).prefetch_related(
        "variants", "phases", "metric_links__metric"
    ).select_related("owner")
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(key__icontains=search))
    return queryset.order_by("-created_at")


# --- Results, as other apps see them (frozen dataclasses cross app boundaries) ---------------


@dataclass(frozen=True)
class ComparisonSummary:
    """One treatment against the control on one metric (overall, not a segment)."""

    metric_key: str
    metric_name: str
    metric_role: str  # primary | secondary | guardrail
    metric_tags: tuple[str, ...]  # e.g. ("acquisition",), ("retention",)
    higher_is_better: bool
    variant: str
    effect: float | None  # relative lift when difference == "relative", else absolute
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    verdict: str  # "win" | "loss" | "flat" | "inconclusive"
    summary: str  # the plain-language sentence


@dataclass(frozen=True)
class ResultSummary:
    """The latest analysis of an experiment, as learnings and outcomes need it."""

    experiment_key: str
    snapshot_id: int
    data_cutoff: datetime
    engine: str
    difference: str
    comparisons: tuple[ComparisonSummary, ...]
    srm_flag: bool

    def for_metric(self, metric_key: str) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_key == metric_key)

    @property
    def primary(self) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_role == "primary")


def experiment_result_summary(*, experiment: Experiment) -> ResultSummary | None:
    """Return the latest snapshot's overall comparisons, or None before the first analysis."""
    snapshot = experiment.snapshots.order_by("-data_cutoff", "-id").first()
    if snapshot is None:
        return None
    comparisons = []
    for metric in snapshot.outputs.get("metrics", []):
        if metric.get("segment") is not None:
            continue
        for c in metric["comparisons"]:
            comparisons.append(
                ComparisonSummary(
                    metric_key=metric["key"],
                    metric_name=metric["name"],
                    metric_role=metric["role"],
                    metric_tags=tuple(metric.get("tags", ())),
                    higher_is_better=metric.get("direction", "up") == "up",
                    variant=c["variant"],
                    effect=c.get("effect"),
                    ci_low=c.get("ci_low"),
                    ci_high=c.get("ci_high"),
                    p_value=c.get("p_value"),
                    chance_to_win=c.get("chance_to_win"),
                    significant=bool(c.get("significant")),
                    verdict=c.get("verdict", "inconclusive"),
                    summary=c.get("summary", ""),
                )
            )
    return ResultSummary(
        experiment_key=experiment.key,
        snapshot_id=snapshot.pk,
        data_cutoff=snapshot.data_cutoff,
        engine=snapshot.settings.get("engine", "frequentist"),
        difference=snapshot.settings.get("difference", "relative"),
        comparisons=tuple(comparisons),
        srm_flag=bool(snapshot.health.get("srm", {}).get("flag")),
    )
