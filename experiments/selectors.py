"""Read queries of experiments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from experiments.models import Experiment, Exposure
from plg_platform.models import Workspace


def experiments_list(
    *, workspace: Workspace, status: str | None = None, search: str | None = None
) -> QuerySet[Experiment]:
    queryset = (
        Experiment.objects.filter(workspace=workspace)
        .prefetch_related("variants", "phases", "metric_links__metric")
        .select_related("owner")
    )
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(key__icontains=search))
    return queryset.order_by("-created_at")


# --- Exposures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureCounts:
    """Exposed units of one experiment: those analysed, per phase and variant, and those left out
    because they saw more than one variant (a health check warns when their share is high)."""

    included: dict[int, dict[str, int]]  # phase number -> variant key -> units
    excluded_units: int

    @property
    def included_units(self) -> int:
        return sum(n for by_variant in self.included.values() for n in by_variant.values())

    @property
    def excluded_share(self) -> float:
        """Return the share of exposed units seen in more than one variant (0 when none)."""
        total = self.included_units + self.excluded_units
        return self.excluded_units / total if total else 0.0


def exposure_counts(*, experiment: Experiment) -> ExposureCounts:
    """Count exposed units in one grouped query (phase of first exposure × variant × excluded)."""
    rows = (
        Exposure.objects.filter(experiment=experiment)
        .values("phase__number", "variant", "excluded")
        .annotate(units=Count("id"))
        .order_by()
    )
    included: dict[int, dict[str, int]] = {}
    excluded = 0
    for row in rows:
        if row["excluded"]:
            excluded += row["units"]
        else:
            included.setdefault(row["phase__number"], {})[row["variant"]] = row["units"]
    return ExposureCounts(included=included, excluded_units=excluded)


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
