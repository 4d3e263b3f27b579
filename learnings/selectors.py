"""Read queries of learnings: one learning, the area taxonomy, override history, meta-analysis.

Search lives in ``learnings.search.faceted`` and "have we tried this before?" in
``learnings.similarity``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.db.models import QuerySet

from experiments.holdouts.contracts import ShippedEstimate
from learnings.models import Effect, EffectOverride, Learning, ProductArea, Source
from learnings.search.faceted import SearchFilters, learnings_matching
from learnings.shrinkage import Method, Shrinkage, shrink
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

LEARNING_NOT_FOUND = "No such learning in this workspace."
AREA_NOT_FOUND = "No such product area in this workspace."
GroupBy = Literal["product_area", "funnel_stage", "team", "quarter"]
GROUP_BY: tuple[GroupBy, ...] = ("product_area", "funnel_stage", "team", "quarter")


def learning_get(*, workspace: Workspace, learning_id: int) -> Learning:
    """Return one learning of the workspace with everything its detail view shows."""
    learning = (
        Learning.objects.filter(workspace=workspace, pk=learning_id)
        .select_related("product_area", "author", "experiment")
        .prefetch_related("tag_links", "key_results", "effect_overrides__actor")
        .first()
    )
    if learning is None:
        raise NotFound(LEARNING_NOT_FOUND, field="id")
    return learning


def product_area_get(*, workspace: Workspace, area_id: int, field: str = "id") -> ProductArea:
    area = ProductArea.objects.filter(workspace=workspace, pk=area_id).first()
    if area is None:
        raise NotFound(AREA_NOT_FOUND, field=field)
    return area


def product_areas_list(*, workspace: Workspace) -> QuerySet[ProductArea]:
    """The taxonomy in path order (a parent right before its sub-areas)."""
    return ProductArea.objects.filter(workspace=workspace).order_by("path")


def effect_overrides_list(*, learning: Learning) -> QuerySet[EffectOverride]:
    return learning.effect_overrides.select_related("actor").order_by("-created_at", "-id")


# --- Meta-analysis ----------------------------------------------------------------------------


@dataclass
class GroupStats:
    """Win rate, impact and retention figures of one group of experiment learnings."""

    key: str
    label: str
    experiments: int = 0
    wins: int = 0
    losses: int = 0
    flat: int = 0
    inconclusive: int = 0
    shipped: int = 0
    with_impact: int = 0
    impact_sum: float = 0.0
    impact_sum_shrunk: float = 0.0
    cumulative_impact: float = 0.0  # Σ impact of shipped experiments
    cumulative_impact_shrunk: float = 0.0
    retention_measured: int = 0
    retention_moved: int = 0  # positive or negative
    retention_positive: int = 0

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.experiments if self.experiments else None

    @property
    def average_impact(self) -> float | None:
        return self.impact_sum / self.with_impact if self.with_impact else None

    @property
    def average_impact_shrunk(self) -> float | None:
        return self.impact_sum_shrunk / self.with_impact if self.with_impact else None

    @property
    def retention_moved_rate(self) -> float | None:
        return self.retention_moved / self.retention_measured if self.retention_measured else None


@dataclass(frozen=True)
class MetaAnalysis:
    group_by: str
    groups: list[GroupStats]
    total: GroupStats
    shrinkage: Shrinkage
    estimates_without_se: int
    notes: list[str] = field(default_factory=list)


_META_FIELDS = (
    "id",
    "outcome",
    "decision",
    "impact",
    "impact_se",
    "retention_effect",
    "funnel_stage",
    "team",
    "quarter",
    "product_area__id",
    "product_area__path",
)


def _group_key(learning: Learning, group_by: GroupBy) -> tuple[str, str]:
    if group_by == "product_area":
        area = learning.product_area
        return (str(area.pk), area.path) if area else ("none", "No area")
    if group_by == "funnel_stage":
        return (learning.funnel_stage or "none", learning.get_funnel_stage_display() or "No stage")
    if group_by == "team":
        return (learning.team or "none", learning.team or "No team")
    return (learning.quarter, learning.quarter)


def _add(stats: GroupStats, learning: Learning, shrunk: float | None) -> None:
    stats.experiments += 1
    if learning.outcome == "win":
        stats.wins += 1
    elif learning.outcome == "loss":
        stats.losses += 1
    elif learning.outcome == "flat":
        stats.flat += 1
    else:
        stats.inconclusive += 1
    shipped = learning.decision == "ship"
    stats.shipped += shipped
    if learning.impact is not None:
        estimate = shrunk if shrunk is not None else learning.impact
        stats.with_impact += 1
        stats.impact_sum += learning.impact
        stats.impact_sum_shrunk += estimate
        if shipped:
            stats.cumulative_impact += learning.impact
            stats.cumulative_impact_shrunk += estimate
    if learning.retention_effect:
        stats.retention_measured += 1
        moved = learning.retention_effect in (Effect.POSITIVE, Effect.NEGATIVE)
        stats.retention_moved += moved
        stats.retention_positive += learning.retention_effect == Effect.POSITIVE


def meta_analysis(
    *,
    workspace: Workspace,
    group_by: GroupBy = "product_area",
    query: str = "",
    filters: SearchFilters | None = None,
    method: Method = "empirical_bayes",
) -> MetaAnalysis:
    """Aggregate the workspace's experiment learnings (those a search selects) by one tag.

    The shrinkage prior is fitted once across every selected experiment with an impact and a
    standard error; groups then add up raw and shrunk estimates side by side. Impacts without
    a standard error cannot be shrunk and are carried at their raw value (counted in
    ``estimates_without_se``).
    """
    learnings: Iterable[Learning] = (
        learnings_matching(workspace=workspace, query=query, filters=filters)
        .filter(source=Source.EXPERIMENT)
        .select_related("product_area")
        .only(*_META_FIELDS)
    )
    learnings = list(learnings)
    fit = [lr for lr in learnings if lr.impact is not None and (lr.impact_se or 0) > 0]
    shrinkage = shrink([lr.impact for lr in fit], [lr.impact_se for lr in fit], method=method)
    shrunk = dict(zip((lr.pk for lr in fit), shrinkage.shrunk, strict=True))
    groups: dict[str, GroupStats] = {}
    total = GroupStats(key="all", label="All experiments")
    for learning in learnings:
        key, label = _group_key(learning, group_by)
        stats = groups.setdefault(key, GroupStats(key=key, label=label))
        _add(stats, learning, shrunk.get(learning.pk))
        _add(total, learning, shrunk.get(learning.pk))
    without_se = sum(1 for lr in learnings if lr.impact is not None and lr.pk not in shrunk)
    notes = []
    if shrinkage.method == "none":
        notes.append(f"Raw estimates only: {shrinkage.message}")
    if without_se:
        notes.append(f"{without_se} estimate(s) without a standard error are carried raw.")
    ordered = sorted(groups.values(), key=lambda g: (g.key == "none", g.label))
    if group_by == "quarter":
        ordered.sort(key=lambda g: g.key, reverse=True)
    return MetaAnalysis(
        group_by=group_by,
        groups=ordered,
        total=total,
        shrinkage=shrinkage,
        estimates_without_se=without_se,
        notes=notes,
    )


def shipped_estimates_for(
    workspace_id: int, experiment_ids: Sequence[int], method: Method = "empirical_bayes"
) -> dict[int, ShippedEstimate]:
    """Each listed experiment's recorded lift and its lift shrunk by the meta-analysis's prior,
    fitted (as ``meta_analysis`` fits it with no search) across every experiment learning of
    the workspace with an impact and a standard error. Registered as the holdout report's
    provider (``experiments.holdouts.contracts``)."""
    wanted = set(experiment_ids)
    learnings = list(
        Learning.objects.filter(workspace_id=workspace_id, source=Source.EXPERIMENT).only(
            "id", "experiment_id", "impact", "impact_se"
        )
    )
    fit = [lr for lr in learnings if lr.impact is not None and (lr.impact_se or 0) > 0]
    shrinkage = shrink(
        [float(lr.impact or 0) for lr in fit],
        [float(lr.impact_se or 0) for lr in fit],
        method=method,
    )
    shrunk = dict(zip((lr.pk for lr in fit), shrinkage.shrunk, strict=True))
    return {
        lr.experiment_id: ShippedEstimate(
            experiment_id=lr.experiment_id,
            lift=lr.impact,
            lift_shrunk=shrunk.get(lr.pk, lr.impact),
            method=shrinkage.method if lr.pk in shrunk else "none",
        )
        for lr in learnings
        if lr.experiment_id in wanted and lr.impact is not None and lr.experiment_id is not None
    }
