"""From sufficient statistics to results: the statistics engine's comparisons, as snapshot JSON.

Two families of comparisons, each corrected for multiple testing on its own:

* overall: every metric × treatment variant (the headline results);
* breakdowns: every metric × treatment variant × segment value of every segment property.

Keeping them apart means adding a breakdown never widens the headline intervals, while a
"win" in one country among twenty is held to the same bar as twenty separate tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from experiments.contracts import (
    OK,
    AnalysisOutputs,
    ComparisonResult,
    FunnelStepChange,
    FunnelStepResult,
    MetricResult,
    SkippedMetric,
    VariantResult,
)
from experiments.services.analysis.inputs import (
    OVERALL,
    AnalysedMetric,
    AnalysisInputs,
    AnalysisPlan,
    StatisticsLookup,
    statistics_lookup,
)
from experiments.services.analysis.rows import (
    STATISTIC_NAMES,
    Row,
    arm_status,
    breakdown_rows,
    overall_rows,
    statistics_arrays,
)
from experiments.stats import (
    AnalysisSettings,
    BatchAnalysis,
    SummaryContext,
    analyze_batch,
    apply_arm_status,
    describe_comparison,
)
from experiments.stats.funnels import ProportionChanges, funnel_step_changes
from experiments.verdicts import decisive, verdict_of
from metrics.public import MetricStatistics

NEVER_REACHED = (
    " Within the {window}-day window, {shares} never reached it; they are counted here, "
    "not in the {statistic}."
)


def quantile_label(level: float) -> str:
    """p50, p90, p99.9: how people name a quantile."""
    return f"p{level * 100:g}"


def tracks_reaching(metric: AnalysedMetric) -> bool:
    """Whether the metric's value is a time to an event that some units never reach."""
    definition = metric.definition
    return metric.type == "time_to_event" or (
        metric.type == "quantile"
        and definition.quantile_of == "unit"
        and not definition.property_name
    )


def summary_name(metric: AnalysedMetric, name: str) -> str:
    """What a sentence calls the metric: its name, or "the p90 of <name>" for a quantile."""
    level = metric.definition.quantile
    return f"the {quantile_label(level)} of {name}" if level is not None else name


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN where a status withholds it; ±inf for an open bound)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pick(array: np.ndarray | None, i: int, k: int) -> float | None:
    return None if array is None else _number(array[i, k])


def _step_change(changes: ProportionChanges, k: int, alpha: float) -> FunnelStepChange:
    return FunnelStepChange(
        difference=_number(changes.difference[k]),
        ci_low=_number(changes.ci_low[k]),
        ci_high=_number(changes.ci_high[k]),
        ci_level=1 - alpha,
        p_value=_number(changes.p_value[k]),
    )


def funnel_steps(
    metric: AnalysedMetric,
    s: MetricStatistics | None,
    control: MetricStatistics | None = None,
    *,
    alpha: float = 0.05,
) -> tuple[FunnelStepResult, ...]:
    """A funnel's steps in one variant: units reaching each, the conversion from the step
    before (the first step: from every matured unit) and from every matured unit; given the
    control's statistics, each conversion's change against it (experiments/stats/funnels.py)."""
    steps = metric.definition.steps
    if not steps:
        return ()
    blank = (0,) * len(steps)
    reached = s.steps if s is not None and s.steps else blank
    units = s.units if s is not None else 0
    changes = None
    if control is not None:
        changes = funnel_step_changes(
            control_units=control.units,
            control_steps=control.steps or blank,
            variant_units=units,
            variant_steps=reached,
            alpha=alpha,
        )
    out = []
    before = units
    for k, (step, count) in enumerate(zip(steps, reached, strict=True)):
        out.append(
            FunnelStepResult(
                name=step.label,
                event=step.event,
                units=count,
                conversion=count / before if before else None,
                overall=count / units if units else None,
                conversion_change=(
                    _step_change(changes.conversion, k, alpha) if changes is not None else None
                ),
                overall_change=(
                    _step_change(changes.overall, k, alpha) if changes is not None else None
                ),
            )
        )
        before = count
    return tuple(out)


def _variant_results(
    plan: AnalysisPlan, lookup: StatisticsLookup, row: Row, alpha: float
) -> tuple[VariantResult, ...]:
    out = []
    time_to_event = tracks_reaching(row.metric)
    where = (row.metric.key, row.segment_property, row.segment_value)
    control = lookup.get((*where, plan.variants[0])) if plan.variants else None
    for i, variant in enumerate(plan.variants):
        s = lookup.get((*where, variant))
        units = s.units if s else 0
        out.append(
            VariantResult(
                variant=variant,
                units=units,
                immature_units=s.immature_units if s else 0,
                n=s.n if s else 0,
                value=_number(s.value) if s else None,
                never_reached_share=(
                    (units - s.n) / units if time_to_event and s and units else None
                ),
                tracks_reaching=time_to_event,
                steps=funnel_steps(
                    row.metric, s, control if i > 0 and control else None, alpha=alpha
                ),
            )
        )
    return tuple(out)


def _never_reached(metric: AnalysedMetric, variants: Sequence[VariantResult]) -> str:
    shares = [
        f"{v.never_reached_share * 100:.1f}% of {v.variant}"
        for v in variants
        if v.never_reached_share is not None
    ]
    if not shares:
        return ""
    text = ", ".join(shares[:-1]) + (" and " if len(shares) > 1 else "") + shares[-1]
    level = metric.definition.quantile
    statistic = quantile_label(level) if level is not None else "average time"
    return NEVER_REACHED.format(
        window=metric.definition.window_days, shares=text, statistic=statistic
    )


@dataclass(frozen=True)
class FamilyResult:
    """The engine's relative and absolute results for one family of rows."""

    rows: list[Row]
    relative: BatchAnalysis | None
    absolute: BatchAnalysis | None


def analyze_family(
    plan: AnalysisPlan, lookup: StatisticsLookup, rows: list[Row], settings: AnalysisSettings
) -> FamilyResult:
    """Run the engine once (relative lift) and once more for absolute differences."""
    if not rows or len(plan.variants) < 2:
        return FamilyResult(rows, None, None)
    statistics, types, directions = statistics_arrays(plan, lookup, rows)
    refused = arm_status(plan, lookup, rows)  # quantiles the small-sample guard refuses
    relative = analyze_batch(
        statistics, metric_type=types, settings=settings, higher_is_better=directions
    )
    absolute = analyze_batch(
        statistics,
        metric_type=types,
        settings=replace(settings, difference="absolute"),
        higher_is_better=directions,
    )
    return FamilyResult(
        rows, apply_arm_status(relative, refused), apply_arm_status(absolute, refused)
    )


def family_results(
    plan: AnalysisPlan,
    lookup: StatisticsLookup,
    family: FamilyResult,
    settings: AnalysisSettings,
    *,
    planned_mde: float | None,
) -> tuple[MetricResult, ...]:
    """Every row of a family as a result: variants, comparisons, summary."""
    results = []
    control = plan.variants[0] if plan.variants else "control"
    correction = settings.correction if settings.engine == "frequentist" else "none"
    for i, row in enumerate(family.rows):
        metric = row.metric
        name = metric.name
        if row.segment is not None:
            name = f"{metric.name} ({row.segment_property} = {row.segment_value})"
        context = SummaryContext(
            metric_name=summary_name(metric, name),
            engine=settings.engine,
            difference="relative",
            metric_type=metric.engine_type,  # type: ignore[arg-type]
            alpha=settings.alpha,
            sequential=settings.sequential,
            correction=correction,
            higher_is_better=metric.higher_is_better,
            control_name=plan.name_of(control),
        )
        variants = _variant_results(plan, lookup, row, settings.alpha)
        comparisons: list[ComparisonResult] = []
        if family.relative is not None and family.absolute is not None:
            rel, ab = family.relative, family.absolute
            for k, variant in enumerate(plan.variants[1:]):
                comparisons.append(
                    _comparison(
                        rel, ab, i, k, variant, context, planned_mde, name=plan.name_of(variant)
                    )
                )
        summary = " ".join(c.summary for c in comparisons)
        if tracks_reaching(metric):
            summary += _never_reached(metric, variants)
        results.append(
            MetricResult(
                key=metric.key,
                name=metric.name,
                type=metric.type,
                metric_type=metric.engine_type,
                role=metric.role,
                tags=tuple(metric.tags),
                direction="up" if metric.higher_is_better else "down",
                segment=row.segment,
                variants=variants,
                comparisons=tuple(comparisons),
                summary=summary.strip(),
                quantile=metric.definition.quantile,
                quantile_of=metric.definition.quantile_of,
            )
        )
    return tuple(results)


def _comparison(
    rel: BatchAnalysis,
    ab: BatchAnalysis,
    i: int,
    k: int,
    variant: str,
    context: SummaryContext,
    planned_mde: float | None,
    *,
    name: str,
) -> ComparisonResult:
    status = str(rel.status[i, k])
    effect = _pick(rel.effect, i, k)
    ci_low, ci_high = _pick(rel.ci_low, i, k), _pick(rel.ci_high, i, k)
    p_value, chance = _pick(rel.p_value, i, k), _pick(rel.chance_to_win, i, k)
    significant = status == OK and decisive(
        engine=context.engine, alpha=context.alpha, p_value=p_value, chance_to_win=chance
    )
    summary = describe_comparison(
        context,
        variant=name,
        status=status,
        effect=effect,
        ci_low=ci_low,
        ci_high=ci_high,
        ci_level=_pick(rel.ci_level, i, k),
        p_value=p_value,
        chance_to_win=chance,
        risk=_pick(rel.risk, i, k),
    )
    return ComparisonResult(
        variant=variant,
        status=status,
        message=str(rel.messages[i, k]) if rel.status.size else "",
        effect=effect,
        ci_low=ci_low,
        ci_high=ci_high,
        ci_level=_pick(rel.ci_level, i, k),
        p_value=p_value,
        p_value_unadjusted=_pick(rel.p_value_unadjusted, i, k),
        chance_to_win=chance,
        risk=_pick(rel.risk, i, k),
        standard_error=_pick(rel.standard_error, i, k),
        absolute_effect=_pick(ab.effect, i, k),
        absolute_ci_low=_pick(ab.ci_low, i, k),
        absolute_ci_high=_pick(ab.ci_high, i, k),
        control_mean=_pick(rel.control_mean, i, k),
        variant_mean=_pick(rel.variant_mean, i, k),
        variance_reduction=_pick(rel.variance_reduction, i, k),
        significant=significant,
        verdict=verdict_of(
            status=status,
            significant=significant,
            effect=effect,
            ci_low=ci_low,
            ci_high=ci_high,
            higher_is_better=context.higher_is_better,
            planned_mde=planned_mde,
        ),
        summary=summary,
    )


def analysis_outputs(
    *,
    plan: AnalysisPlan,
    inputs: AnalysisInputs,
    settings: AnalysisSettings,
    planned_mde: float | None,
) -> AnalysisOutputs:
    """Results of every comparison: the overall family, then the breakdown family (the
    verdict is added once the health checks are known)."""
    lookup = statistics_lookup(inputs)
    overall = analyze_family(plan, lookup, overall_rows(plan), settings)
    segments = analyze_family(plan, lookup, breakdown_rows(plan, inputs), settings)
    return AnalysisOutputs(
        engine=settings.engine,
        difference=settings.difference,
        alpha=settings.alpha,
        sequential=settings.sequential,
        correction=settings.correction,
        control=plan.variants[0] if plan.variants else None,
        variants=tuple(plan.variants),
        metrics=family_results(plan, lookup, overall, settings, planned_mde=planned_mde),
        segments=family_results(plan, lookup, segments, settings, planned_mde=planned_mde),
        skipped_metrics=tuple(SkippedMetric(key=k, reason=r) for k, r in plan.skipped_metrics),
    )


def inputs_json(plan: AnalysisPlan, inputs: AnalysisInputs) -> dict[str, Any]:
    """The sufficient statistics behind a snapshot, as stored with it (for audits and reruns);
    a quantile metric's rows carry its summary (``quantile``: n, the quantile, the band)."""

    def rows(items: Sequence[MetricStatistics], prop: str | None) -> list[dict[str, Any]]:
        return [
            {
                "metric": s.metric,
                "variant": s.group,
                "segment_property": prop,
                "segment": None if prop is None else s.segment,
                **{
                    name: getattr(s, name) for name in ("units", "immature_units", *STATISTIC_NAMES)
                },
                **({"steps": list(s.steps)} if s.steps else {}),
                **({"quantile": asdict(s.quantile)} if s.quantile is not None else {}),
            }
            for s in items
            if s.segment == OVERALL or prop is not None
        ]

    statistics = rows(inputs.overall, None)
    for breakdown in inputs.breakdowns:
        statistics += rows(breakdown.statistics, breakdown.property)
    return {
        "phase": plan.phase_number,
        "cutoff_us": plan.cutoff_us,
        "covariate_days": plan.covariate_days,
        "variants": list(plan.variants),
        "weights": list(plan.weights),
        "metrics": [
            {"key": m.key, "type": m.type, "role": m.role, "engine_type": m.engine_type}
            for m in plan.metrics
        ],
        "segments": list(plan.segments),
        "statistics": statistics,
    }
