"""Read queries of experiments: the list, one experiment, exposure counts, the latest result
as other apps read it, and the experiments linked to a key result.

The results page and API read ``experiments.result_selectors``; notifications and webhooks
``experiments.notification_selectors``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Max, Min, Q, QuerySet

from experiments.contracts import AnalysisOutputs, ComparisonSummary, Health, ResultSummary
from experiments.models import Decision, Experiment, ExperimentStatus, Exposure
from outcomes.okrs.contracts import LinkedExperiment
from outcomes.okrs.models import KeyResult
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

EXPERIMENT_NOT_FOUND = "No experiment {key!r} in this workspace."


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


def experiment_get(*, workspace: Workspace, key: str) -> Experiment:
    """Return the workspace's experiment ``key``, or a 404 naming it."""
    experiment = Experiment.objects.filter(workspace=workspace, key=key).first()
    if experiment is None:
        raise NotFound(EXPERIMENT_NOT_FOUND.format(key=key), field="key")
    return experiment


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


@dataclass(frozen=True)
class ExposureSpan:
    """How many units an experiment has exposed (not excluded nor held out), first to last
    exposure."""

    units: int
    first_us: int | None
    last_us: int | None


def exposure_span(*, experiment: Experiment) -> ExposureSpan:
    """Count the exposed units and the span of their first exposures (one query)."""
    row = Exposure.objects.filter(experiment=experiment, excluded=False, held_out=False).aggregate(
        units=Count("id"), first=Min("exposed_at_us"), last=Max("exposed_at_us")
    )
    return ExposureSpan(units=row["units"], first_us=row["first"], last_us=row["last"])


# --- Results, as other apps see them (the frozen contracts of experiments.contracts) ---------


def experiment_result_summary(*, experiment: Experiment) -> ResultSummary | None:
    """Return the latest snapshot's overall comparisons, or None before the first analysis."""
    snapshot = experiment.snapshots.order_by("-data_cutoff", "-id").first()
    if snapshot is None:
        return None
    outputs = AnalysisOutputs.from_json(snapshot.outputs)
    return ResultSummary(
        experiment_key=experiment.key,
        snapshot_id=snapshot.pk,
        data_cutoff=snapshot.data_cutoff,
        engine=snapshot.settings.get("engine", "frequentist"),
        difference=snapshot.settings.get("difference", "relative"),
        comparisons=tuple(
            ComparisonSummary.of(metric, c)
            for metric in outputs.metrics
            if metric.segment is None
            for c in metric.comparisons
        ),
        srm_flag=Health.from_json(snapshot.health).srm_flag,
    )


# --- Experiments linked to a key result (registered with outcomes in ExperimentsConfig.ready) --

_OUTCOME_OF_DECISION = {
    Decision.SHIP: "won",
    Decision.ROLLBACK: "lost",
    Decision.ITERATE: "inconclusive",
}
_OUTCOME_OF_VERDICT = {"win": "won", "loss": "lost"}


def _impact_comparison(
    experiment: Experiment, comparisons: tuple[ComparisonSummary, ...]
) -> ComparisonSummary | None:
    """The comparison that stands for the experiment's impact: the decided variant's, else the
    best-looking one (the largest effect in the metric's good direction)."""
    if not comparisons:
        return None
    if experiment.decision_variant:
        for c in comparisons:
            if c.variant == experiment.decision_variant:
                return c
    with_effect = [c for c in comparisons if c.effect is not None]
    if not with_effect:
        return comparisons[0]
    return max(with_effect, key=lambda c: c.effect if c.higher_is_better else -c.effect)


def _format_effect(effect: float, difference: str) -> str:
    return f"{effect:+.1%}" if difference == "relative" else f"{effect:+.4g}"


def linked_experiment(*, experiment: Experiment, key_result: KeyResult) -> LinkedExperiment:
    """Describe ``experiment`` for the page of ``key_result`` it serves: its status, its outcome
    (won / lost / inconclusive / running / draft) and its estimated impact on the key result's
    metric from the latest result snapshot (None when the experiment does not measure it)."""
    summary = experiment_result_summary(experiment=experiment)
    on_kr_metric = summary.for_metric(key_result.metric.key) if summary else ()
    chosen = _impact_comparison(experiment, on_kr_metric or (summary.primary if summary else ()))
    if experiment.status == ExperimentStatus.DRAFT:
        outcome = "draft"
    elif experiment.status == ExperimentStatus.RUNNING:
        outcome = "running"
    elif experiment.decision:
        outcome = _OUTCOME_OF_DECISION.get(experiment.decision, "inconclusive")
    else:
        outcome = _OUTCOME_OF_VERDICT.get(chosen.verdict if chosen else "", "inconclusive")
    parts = []
    if chosen is not None and chosen.effect is not None and summary is not None:
        measured = "" if on_kr_metric else " (the key result's metric is not measured)"
        parts.append(
            f"{_format_effect(chosen.effect, summary.difference)} on {chosen.metric_name} "
            f"for {chosen.variant!r}{measured}"
        )
    if experiment.decision:
        decided = f" {experiment.decision_variant!r}" if experiment.decision_variant else ""
        parts.append(f"decision: {experiment.get_decision_display().lower()}{decided}")
    return LinkedExperiment(
        key=experiment.key,
        name=experiment.name,
        status=experiment.status,
        outcome=outcome,
        estimated_impact=chosen.effect if chosen is not None and on_kr_metric else None,
        impact_description="; ".join(parts),
    )


def key_result_running_experiments(*, key_result: KeyResult) -> QuerySet[Experiment]:
    """The running experiments of the key result's workspace linked to it, oldest first."""
    return (
        Experiment.objects.filter(
            workspace_id=key_result.workspace_id,
            key_results=key_result,
            status=ExperimentStatus.RUNNING,
        )
        .prefetch_related("variants")
        .order_by("started_at", "pk")
    )


def key_result_linked_experiments(key_result: KeyResult) -> list[LinkedExperiment]:
    """The experiments of the key result's workspace that serve it, newest first (the provider
    ``outcomes.okrs.selectors.key_result_experiments`` calls)."""
    experiments = Experiment.objects.filter(
        workspace_id=key_result.workspace_id, key_results=key_result
    ).order_by("-created_at", "-pk")
    return [linked_experiment(experiment=e, key_result=key_result) for e in experiments]
