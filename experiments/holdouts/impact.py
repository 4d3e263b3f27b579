"""The cumulative impact of everything shipped during a holdout: holdout vs everyone else.

For each metric bound to a key result of the workspace's objectives (those whose period
overlaps the holdout's), one statement computes the metric over the units seen during the
holdout (``HoldoutUnit``: each starts at its first sighting, grouped by arm), inside the
database, through ``metrics.public``; the statistics engine then compares everyone else with
the holdout (relative lift, its interval and p-value, as for an experiment; the holdout is the
control). Beside it: the sum of the individual lifts of the experiments shipped during the
period on that metric, shrunk by the meta-analysis (``contracts.shipped_estimates``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count

from experiments.assignment import GENERAL_ARM, HOLDOUT_ARM
from experiments.holdouts.contracts import shipped_estimates
from experiments.holdouts.models import Holdout, HoldoutUnit
from experiments.models import Decision, Experiment, ExperimentStatus, MetricRole
from experiments.services.analysis.inputs import engine_metric_type
from experiments.stats import AnalysisRequest, VariantStatistics, analyze
from metrics.public import (
    MetricStatistics,
    TablePopulation,
    compute_metric_statistics,
    metric_definition,
)
from outcomes.okrs.models import KeyResult
from plg_platform.services.ingestion import to_epoch_us

ALPHA = 0.05


@dataclass(frozen=True)
class ShippedLift:
    key: str
    name: str
    lift: float | None
    lift_shrunk: float | None


@dataclass(frozen=True)
class MetricImpact:
    """Everyone else against the holdout on one key-result metric."""

    key: str
    name: str
    key_results: list[str]
    higher_is_better: bool
    holdout_units: int
    general_units: int
    immature_units: int
    holdout_mean: float | None
    general_mean: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    status: str
    message: str
    shipped: list[ShippedLift] = field(default_factory=list)
    shipped_sum: float | None = None  # Σ raw lifts of shipped experiments with an estimate
    shipped_sum_shrunk: float | None = None


@dataclass(frozen=True)
class ImpactReport:
    data_cutoff: str
    holdout_units: int
    general_units: int
    expected_share: float
    observed_share: float | None
    split_p_value: float | None
    split_flag: bool
    metrics: list[MetricImpact]
    shipped_experiments: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key_result_metrics(holdout: Holdout) -> dict[int, tuple[Any, list[str]]]:
    """{metric id: (metric, [key result titles])} of key results whose objective's period
    overlaps the holdout's."""
    key_results = (
        KeyResult.objects.filter(
            workspace_id=holdout.workspace_id,
            objective__period_start__lt=holdout.ends_at.date(),
            objective__period_end__gte=holdout.starts_at.date(),
        )
        .select_related("metric")
        .order_by("objective_id", "id")
    )
    found: dict[int, tuple[Any, list[str]]] = {}
    for kr in key_results:
        found.setdefault(kr.metric_id, (kr.metric, []))[1].append(kr.title)
    return found


def _shipped(holdout: Holdout, cutoff: datetime) -> list[Experiment]:
    """Experiments shipped while the holdout ran (their changes never reached it)."""
    return list(
        Experiment.objects.filter(
            workspace_id=holdout.workspace_id,
            status=ExperimentStatus.CONCLUDED,
            decision=Decision.SHIP,
            concluded_at__gte=holdout.starts_at,
            concluded_at__lte=cutoff,
        )
        .prefetch_related("metric_links__metric", "key_results")
        .order_by("concluded_at", "id")
    )


def _primary_metric_id(experiment: Experiment) -> int | None:
    for link in experiment.metric_links.all():
        if link.role == MetricRole.PRIMARY:
            return link.metric_id
    return None


def _variant(key: str, s: MetricStatistics | None) -> VariantStatistics:
    if s is None:
        return VariantStatistics(key=key, n=0, sum=0.0, sum_squares=0.0)
    return VariantStatistics(
        key=key,
        n=s.n,
        sum=s.sum,
        sum_squares=s.sum_squares,
        denominator_sum=s.denominator_sum,
        denominator_sum_squares=s.denominator_sum_squares,
        sum_product=s.sum_product,
    )


def _sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def impact_report(*, holdout: Holdout, cutoff: datetime) -> ImpactReport:
    """Compare everyone else with the holdout on every key-result metric, as of ``cutoff``."""
    counts = dict(
        HoldoutUnit.objects.filter(holdout=holdout, first_seen_us__lt=to_epoch_us(cutoff))
        .values_list("arm")
        .annotate(n=Count("id"))
        .order_by()
    )
    held, general = counts.get(HOLDOUT_ARM, 0), counts.get(GENERAL_ARM, 0)
    metrics = _key_result_metrics(holdout)
    population = TablePopulation(
        table=HoldoutUnit._meta.db_table,
        unit_column="unit_id",
        start_column="first_seen_us",
        group_column="arm",
        filters=(("holdout_id", holdout.pk),),
    )
    statistics: dict[tuple[str, str], MetricStatistics] = {}
    if metrics and held + general:
        rows = compute_metric_statistics(
            workspace_id=holdout.workspace_id,
            metrics=[metric_definition(m) for m, _ in metrics.values()],
            population=population,
            cutoff_us=to_epoch_us(cutoff),
        )
        statistics = {(r.metric, r.group): r for r in rows if r.segment in ("all", "")}
    shipped = _shipped(holdout, cutoff)
    estimates = shipped_estimates(
        workspace_id=holdout.workspace_id, experiment_ids=[e.pk for e in shipped]
    )
    split = analyze(
        AnalysisRequest(
            variants=(
                VariantStatistics(key=HOLDOUT_ARM, n=held or 0, sum=0.0, sum_squares=0.0),
                VariantStatistics(key=GENERAL_ARM, n=general or 0, sum=0.0, sum_squares=0.0),
            ),
            weights=(holdout.share, 1 - holdout.share),
        )
    ).srm
    impacts = []
    for metric_id, (metric, titles) in metrics.items():
        h, g = statistics.get((metric.key, HOLDOUT_ARM)), statistics.get((metric.key, GENERAL_ARM))
        higher_is_better = metric.direction != "decrease"
        result = analyze(
            AnalysisRequest(
                variants=(_variant(HOLDOUT_ARM, h), _variant(GENERAL_ARM, g)),
                metric_type=engine_metric_type(metric.type),  # type: ignore[arg-type]
                alpha=ALPHA,
                higher_is_better=higher_is_better,
                metric_name=metric.name,
            )
        ).comparisons[0]
        on_metric = [
            e
            for e in shipped
            if _primary_metric_id(e) == metric_id
            or any(kr.metric_id == metric_id for kr in e.key_results.all())
        ]
        lifts = [
            ShippedLift(
                key=e.key,
                name=e.name,
                lift=estimates[e.pk].lift if e.pk in estimates else None,
                lift_shrunk=estimates[e.pk].lift_shrunk if e.pk in estimates else None,
            )
            for e in on_metric
        ]
        impacts.append(
            MetricImpact(
                key=metric.key,
                name=metric.name,
                key_results=titles,
                higher_is_better=higher_is_better,
                holdout_units=h.units if h else 0,
                general_units=g.units if g else 0,
                immature_units=(h.immature_units if h else 0) + (g.immature_units if g else 0),
                holdout_mean=result.control_mean,
                general_mean=result.variant_mean,
                lift=result.effect,
                ci_low=result.ci_low,
                ci_high=result.ci_high,
                p_value=result.p_value,
                status=str(result.status),
                message=result.message,
                shipped=lifts,
                shipped_sum=_sum([s.lift for s in lifts]),
                shipped_sum_shrunk=_sum([s.lift_shrunk for s in lifts]),
            )
        )
    return ImpactReport(
        data_cutoff=cutoff.isoformat(),
        holdout_units=held,
        general_units=general,
        expected_share=holdout.share,
        observed_share=held / (held + general) if held + general else None,
        split_p_value=split.p_value,
        split_flag=bool(split.flag),
        metrics=impacts,
        shipped_experiments=len(shipped),
    )


def _pct(value: float) -> str:
    return f"{value:+.1%}"


def impact_sentences(m: MetricImpact) -> list[str]:
    """What the comparison says, in plain language, and what to make of it."""
    if m.lift is None or m.ci_low is None or m.ci_high is None:
        return [
            f"{m.name}: not enough data yet to compare the holdout with everyone else "
            f"({m.holdout_units:,} held-out and {m.general_units:,} other units have matured). "
            "Wait for more units to pass the metric's window."
        ]
    good = (m.lift > 0) == m.higher_is_better
    sure = m.ci_low > 0 or m.ci_high < 0
    sentences = [
        f"{m.name}: everyone else is {_pct(m.lift)} against the holdout "
        f"(95% interval {_pct(m.ci_low)} to {_pct(m.ci_high)}), the measured combined effect "
        "of everything shipped while the holdout ran."
    ]
    if not sure:
        sentences.append(
            "The interval includes zero: so far the shipped changes together have no effect on "
            "this metric that the holdout can tell apart from chance."
        )
    elif good:
        sentences.append("The shipped changes together moved it in the right direction.")
    else:
        sentences.append(
            "The shipped changes together moved it in the wrong direction: look for a shipped "
            "change whose effect reversed or that harms this metric."
        )
    if m.shipped_sum_shrunk is None:
        if m.shipped:
            sentences.append(
                f"{len(m.shipped)} experiment(s) shipped on this metric, none with a recorded lift."
            )
        return sentences
    expected = m.shipped_sum_shrunk
    count = sum(1 for s in m.shipped if s.lift_shrunk is not None)
    sentences.append(
        f"The {count} experiment(s) shipped on it add up to {_pct(expected)} by their "
        "individual lifts, shrunk by the meta-analysis."
    )
    if m.ci_low <= expected <= m.ci_high:
        sentences.append("The measured impact agrees with that sum.")
    elif abs(expected) > max(abs(m.ci_low), abs(m.ci_high)):
        sentences.append(
            "The measured impact is smaller than that sum: individual wins overlap, fade or were "
            "overestimated; plan on the measured figure."
        )
    else:
        sentences.append(
            "The measured impact is larger than that sum: changes reinforce each other, or "
            "changes shipped without an experiment add to it."
        )
    return sentences
