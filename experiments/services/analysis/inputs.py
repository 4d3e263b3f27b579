"""What an analysis reads: the phase, its variants and metrics, and their sufficient statistics.

The population is the phase's exposures (units seen in two variants, and units the workspace
holdout held out, left out), each unit's
windows anchored at its first exposure; the metric layer computes every metric in one SQL
statement per unit type and returns only sums per variant (and segment). Nothing here iterates
over units or events.

An experiment bound to an event source is analysed warehouse-natively (``warehouse``): the
same statements run in the source's engine, on its tables; one more small statement counts the
exposed units for the health checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from django.conf import settings

from experiments.models import Experiment, Exposure, MetricRole, Phase
from experiments.services.analysis.warehouse import Warehouse, store_open, warehouse_open
from metrics.public import (
    ExposureSummary,
    MetricDefinition,
    MetricStatistics,
    TablePopulation,
    compute_metric_statistics,
    metric_definition,
    metrics_list,
    partials_refresh,
    partials_statistics,
)
from plg_platform.errors import Conflict
from plg_platform.models import EventStore
from plg_platform.services.ingestion import to_epoch_us

# CUPED's pre-period: each metric's value over the 14 days before a unit's first exposure.
# Two weeks cover both weekly cycles and most users' recent history without reaching back to
# behaviour that no longer predicts the experiment period.
CUPED_PRE_PERIOD_DAYS = 14
# A breakdown keeps the segment values with the most units; the rest are pooled into one
# "(other)" segment, so a property with thousands of values cannot flood the correction.
MAX_SEGMENT_VALUES = 20
OTHER_SEGMENT = "(other)"
OVERALL = "all"

# Binary per-unit values are analysed as proportions, ratios by the delta method; every other
# type (count, sum, mean, time to event) as a mean of per-unit values.
_ENGINE_TYPES = {
    "conversion": "proportion",
    "retention": "proportion",
    "moment": "proportion",
    "funnel": "proportion",  # whole-funnel conversion: reached the last step, or not
    "ratio": "ratio",
}

NO_PHASE = "This experiment has not started, so there is nothing to analyse."
UNIT_MISMATCH = (
    "The metric counts {metric_unit} but the experiment assigns {experiment_unit}; "
    "it is left out of the analysis."
)


def engine_metric_type(metric_type: str) -> str:
    """Return the statistics engine's type for one of our metric types."""
    return _ENGINE_TYPES.get(metric_type, "mean")


@dataclass(frozen=True)
class AnalysedMetric:
    """One metric of the phase, with what the engine and the summaries need to know."""

    key: str
    name: str
    type: str
    engine_type: str
    role: str
    tags: tuple[str, ...]
    higher_is_better: bool
    definition: MetricDefinition


@dataclass(frozen=True)
class AnalysisPlan:
    """Everything an analysis run is about, fixed before any statistic is computed."""

    experiment_id: int
    workspace_id: int
    phase_id: int
    phase_number: int
    phase_started_at: datetime
    variants: tuple[str, ...]  # the control first
    weights: tuple[float, ...]
    metrics: tuple[AnalysedMetric, ...]
    skipped_metrics: tuple[tuple[str, str], ...]  # (key, reason)
    segments: tuple[str, ...]
    cutoff: datetime
    covariate_days: int
    variant_names: tuple[str, ...] = ()  # people's names of ``variants``, in the same order
    # Warehouse-native: the event source analysed from (None: our store) and the experiment's
    # id in its exposure table; the phase's end bounds the exposures read there.
    source_id: int | None = None
    source_experiment_id: str = ""
    # The workspace's ingestion is routed to DuckDB or ClickHouse: analysed in that store.
    routed_store: bool = False
    phase_ended_at: datetime | None = None
    # Variant keys in the experiment's order: GrowthBook's variation index i is the i-th.
    variant_order: tuple[str, ...] = ()

    @property
    def cutoff_us(self) -> int:
        return to_epoch_us(self.cutoff)

    @property
    def maturity_days(self) -> int:
        """The primary metric's window: when a unit counts for the headline result."""
        primary = next((m for m in self.metrics if m.role == "primary"), None)
        metrics = (primary,) if primary is not None else self.metrics
        return max((m.definition.maturity_days for m in metrics), default=0)

    def name_of(self, key: str) -> str:
        """The variant's name (what sentences say), or its key when it has none."""
        names = dict(zip(self.variants, self.variant_names, strict=False))
        return names.get(key) or key


def analysed_phase(experiment: Experiment) -> Phase:
    """Return the phase an analysis covers: the open one, else the latest."""
    phase = experiment.phases.order_by("-number").first()
    if phase is None:
        raise Conflict(NO_PHASE, field="status")
    return phase


def _unit_name(unit_property: str) -> str:
    return f"units by {unit_property!r}" if unit_property else "users"


def analysis_plan(*, experiment: Experiment, cutoff: datetime) -> AnalysisPlan:
    """Collect the phase's variants (control first), weights and metrics by role."""
    phase = analysed_phase(experiment)
    control = experiment.variants.filter(is_control=True).values_list("key", flat=True).first()
    names = dict(experiment.variants.values_list("key", "name"))
    order = list(names)
    keys = sorted(phase.weights, key=lambda k: (k != control, order.index(k) if k in order else 0))
    by_key = {m.key: m for m in metrics_list(workspace=experiment.workspace)}
    metrics: list[AnalysedMetric] = []
    skipped: list[tuple[str, str]] = []
    for role in (MetricRole.PRIMARY, MetricRole.SECONDARY, MetricRole.GUARDRAIL):
        for key in phase.metric_keys.get(role, []):
            metric = by_key.get(key)
            if metric is None:
                skipped.append((key, "The metric no longer exists."))
                continue
            definition = metric_definition(metric)
            if definition.unit_property != experiment.unit_property:
                reason = UNIT_MISMATCH.format(
                    metric_unit=_unit_name(definition.unit_property),
                    experiment_unit=_unit_name(experiment.unit_property),
                )
                skipped.append((key, reason))
                continue
            metrics.append(
                AnalysedMetric(
                    key=metric.key,
                    name=metric.name,
                    type=metric.type,
                    engine_type=engine_metric_type(metric.type),
                    role=str(role),
                    tags=tuple(metric.tags or ()),
                    higher_is_better=metric.direction != "decrease",
                    definition=definition,
                )
            )
    source = experiment.source
    segments = tuple(dict.fromkeys(s for s in experiment.segments if s))
    if source is not None and not source.persons_table:
        segments = ()  # breakdowns read person properties; this source has none
    return AnalysisPlan(
        experiment_id=experiment.pk,
        workspace_id=experiment.workspace_id,
        phase_id=phase.pk,
        phase_number=phase.number,
        phase_started_at=phase.started_at,
        variants=tuple(keys),
        weights=tuple(float(phase.weights[k]) for k in keys),
        metrics=tuple(metrics),
        skipped_metrics=tuple(skipped),
        segments=segments,
        cutoff=cutoff,
        covariate_days=CUPED_PRE_PERIOD_DAYS if experiment.cuped else 0,
        variant_names=tuple(names.get(k, k) for k in keys),
        source_id=experiment.source_id,
        source_experiment_id=experiment.source_experiment_id or experiment.key,
        routed_store=experiment.workspace.event_store != EventStore.APP,
        phase_ended_at=phase.ended_at,
        variant_order=tuple(order),
    )


# --- Sufficient statistics ---------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """Statistics of every metric × segment value × variant for one segment property."""

    property: str
    values: tuple[str, ...]
    statistics: tuple[MetricStatistics, ...]


@dataclass(frozen=True)
class AnalysisInputs:
    """The sufficient statistics an analysis starts from: overall, and per breakdown."""

    overall: tuple[MetricStatistics, ...]
    breakdowns: tuple[Breakdown, ...]
    # Overall statistics per day of first exposure (``bucket`` = days since the epoch, UTC):
    # the same statement's rows, so lift over time costs no pass over history.
    daily: tuple[MetricStatistics, ...] = ()
    # Warehouse-native only: the phase's exposed units counted in the source, by variant key
    # (our own exposures are counted from the exposures table instead).
    exposures: ExposureSummary | None = None
    # How the statistics were computed and what it cost: mode (rebuild, incremental, direct),
    # statements, seconds, rows read (``metrics.incremental.PartialsRefresh.report``).
    refresh: dict[str, Any] = field(default_factory=dict)


ADDITIVE = tuple(
    f.name
    for f in fields(MetricStatistics)
    if f.name not in ("metric", "group", "segment", "bucket", "steps", "quantile")
)
DAY_US = 86_400_000_000


def _pooled(
    rows: Iterable[MetricStatistics],
    *,
    segment: str | None = None,
    bucket: str | None = "all",
) -> list[MetricStatistics]:
    """Add up statistics by (metric, variant), and by segment where ``segment`` is None and by
    bucket where ``bucket`` is None: sufficient statistics are sums, so they pool. Quantile
    summaries do not: a pooled quantile row has none (no result)."""
    pooled: dict[tuple[str, str, str, str], MetricStatistics] = {}
    for row in rows:
        key = (
            row.metric,
            row.group,
            row.segment if segment is None else segment,
            row.bucket if bucket is None else bucket,
        )
        if key not in pooled:
            pooled[key] = replace(row, segment=key[2], bucket=key[3])
            continue
        current = pooled[key]
        changes: dict[str, Any] = {}
        for name in ADDITIVE:
            a, b = getattr(current, name), getattr(row, name)
            changes[name] = None if a is None and b is None else (a or 0) + (b or 0)
        if row.steps:  # a funnel's units per step add up step by step
            changes["steps"] = tuple(x + y for x, y in zip(current.steps, row.steps, strict=True))
        pooled[key] = replace(current, quantile=None, **changes)
    return list(pooled.values())


def _top_values(rows: Sequence[MetricStatistics]) -> tuple[str, ...]:
    """Segment values by their units (most first), at most ``MAX_SEGMENT_VALUES``."""
    units: dict[str, int] = {}
    for row in rows:
        units[row.segment] = max(units.get(row.segment, 0), row.units + row.immature_units)
    ranked = sorted(units, key=lambda value: (-units[value], value))
    if len(ranked) <= MAX_SEGMENT_VALUES:
        return tuple(ranked)
    return (*ranked[: MAX_SEGMENT_VALUES - 1], OTHER_SEGMENT)


def _breakdown(prop: str, rows: list[MetricStatistics]) -> Breakdown:
    values = _top_values(rows)
    kept = [r for r in rows if r.segment in values]
    rest = [r for r in rows if r.segment not in values]
    if rest:
        kept += _pooled(rest, segment=OTHER_SEGMENT)
    return Breakdown(property=prop, values=values, statistics=tuple(kept))


def exposure_population(
    plan: AnalysisPlan, *, segment_property: str = "", bucket_us: int = 0
) -> TablePopulation:
    """The phase's exposed units, each starting at its first exposure, grouped by variant;
    units held out by the workspace holdout when exposed are left out (``held_out``)."""
    return TablePopulation(
        table=Exposure._meta.db_table,
        unit_column="unit_id",
        start_column="exposed_at_us",
        group_column="variant",
        filters=(
            ("experiment_id", plan.experiment_id),
            ("phase_id", plan.phase_id),
            ("held_out", False),
        ),
        exclude_column="excluded",
        segment_property=segment_property,
        bucket_us=bucket_us,
    )


def _warehouse(plan: AnalysisPlan) -> AbstractContextManager[Warehouse | None]:
    """The plan's event source, open for the analysis (nothing for our own store)."""
    if plan.source_id is None and plan.routed_store:
        return store_open(
            workspace_id=plan.workspace_id,
            experiment_key=plan.source_experiment_id,
            starts_from_us=to_epoch_us(plan.phase_started_at),
            starts_before_us=to_epoch_us(plan.phase_ended_at) if plan.phase_ended_at else None,
            variant_order=plan.variant_order,
        )
    if plan.source_id is None:
        return nullcontext()
    return warehouse_open(
        workspace_id=plan.workspace_id,
        source_id=plan.source_id,
        experiment_id=plan.source_experiment_id,
        starts_from_us=to_epoch_us(plan.phase_started_at),
        starts_before_us=to_epoch_us(plan.phase_ended_at) if plan.phase_ended_at else None,
        variant_order=plan.variant_order,
    )


def _statistics(
    plan: AnalysisPlan, warehouse: Warehouse, *, segment_property: str, bucket_us: int
) -> list[MetricStatistics]:
    """One statement's statistics (per variant, segment and bucket) in the source or store."""
    definitions = [m.definition for m in plan.metrics if m.type != "quantile"]
    if not definitions:
        return []
    rows = compute_metric_statistics(
        workspace_id=plan.workspace_id,
        metrics=definitions,
        population=warehouse.population(segment_property=segment_property, bucket_us=bucket_us),
        cutoff_us=plan.cutoff_us,
        covariate_days=plan.covariate_days,
        engine=warehouse.engine,
        events=warehouse.events,
    )
    # Variation ids and their indexes may name one variant twice: pool them.
    return _pooled(warehouse.named(rows), segment=None, bucket=None)


def _quantile_statistics(
    plan: AnalysisPlan, warehouse: Warehouse | None, *, segment_property: str
) -> list[MetricStatistics]:
    """The plan's quantile metrics by variant (and segment): a statement each, from all the
    events (quantiles neither pool across days nor come from partial aggregates)."""
    quantiles = [m.definition for m in plan.metrics if m.type == "quantile"]
    if not quantiles:
        return []
    if warehouse is None:
        return compute_metric_statistics(
            workspace_id=plan.workspace_id,
            metrics=quantiles,
            population=exposure_population(plan, segment_property=segment_property),
            cutoff_us=plan.cutoff_us,
        )
    rows = compute_metric_statistics(
        workspace_id=plan.workspace_id,
        metrics=quantiles,
        population=warehouse.population(segment_property=segment_property, bucket_us=0),
        cutoff_us=plan.cutoff_us,
        engine=warehouse.engine,
        events=warehouse.events,
    )
    return _pooled(warehouse.named(rows), segment=None, bucket=None)


def partials_scope_key(experiment_id: int, phase_id: int) -> str:
    """The name of the phase's partial aggregates (``metrics.incremental``)."""
    return f"experiment:{experiment_id}:phase:{phase_id}"


def analysis_inputs_compute(
    *,
    plan: AnalysisPlan,
    on_step: Callable[[int, int], None] | None = None,
    incremental: bool | None = None,
) -> AnalysisInputs:
    """Compute the sufficient statistics of every metric of the plan, in the database (or,
    for an experiment bound to an event source, in the source's engine).

    With ``incremental`` (default: the ``METRICS_INCREMENTAL_ANALYSIS`` setting) the phase's
    partial aggregates are refreshed first (the last days of events re-read, see
    ``metrics.incremental``) and each statement reads them; otherwise each statement reads
    every event. The numbers are the same. Without segments: one statement. With segments:
    one per segment property (all metrics at once), and the overall statistics are the sums
    over the first property's segments. An experiment bound to an event source, or in a
    workspace whose events are kept in DuckDB or ClickHouse, is computed there from all its
    events (no partials). Quantile metrics are a statement each, overall and per segment
    property, from all the events (no partials, no lift by day).

    Raises ``SourceFailed`` (``warehouse``) when a statement fails in the event source.
    """
    if not plan.metrics:
        return AnalysisInputs(overall=(), breakdowns=())
    if incremental is None:
        incremental = settings.METRICS_INCREMENTAL_ANALYSIS
    definitions = [m.definition for m in plan.metrics if m.type != "quantile"]
    properties = plan.segments or ("",)
    steps = len(properties)
    overall: list[MetricStatistics] = []
    breakdowns: list[Breakdown] = []
    daily: list[MetricStatistics] = []
    exposures: ExposureSummary | None = None
    refresh = None
    with _warehouse(plan) as warehouse:
        if warehouse is None and definitions:
            refresh = partials_refresh(
                workspace_id=plan.workspace_id,
                scope_key=partials_scope_key(plan.experiment_id, plan.phase_id),
                metrics=definitions,
                population=exposure_population(plan),
                cutoff_us=plan.cutoff_us,
                covariate_days=plan.covariate_days,
                incremental=incremental,
            )
        for step, prop in enumerate(properties):
            # The first statement also groups by day of first exposure: the overall statistics
            # and the daily ones are its sums over segments (and days).
            bucket_us = DAY_US if step == 0 else 0
            if refresh is not None:
                rows = partials_statistics(
                    refresh=refresh,
                    population=exposure_population(
                        plan, segment_property=prop, bucket_us=bucket_us
                    ),
                )
            elif warehouse is not None:
                rows = _statistics(plan, warehouse, segment_property=prop, bucket_us=bucket_us)
            else:
                rows = []
            if step == 0:
                overall = _pooled(rows, segment=OVERALL)
                overall += _quantile_statistics(plan, warehouse, segment_property="")
                daily = sorted(
                    _pooled(rows, segment=OVERALL, bucket=None), key=lambda s: int(s.bucket)
                )
                rows = _pooled(rows, segment=None)
            if prop:
                rows += _quantile_statistics(plan, warehouse, segment_property=prop)
                breakdowns.append(_breakdown(prop, rows))
            if on_step is not None:
                on_step(step + 1, steps)
        if warehouse is not None:
            exposures = warehouse.exposure_counts(
                cutoff_us=plan.cutoff_us, maturity_us=plan.maturity_days * DAY_US
            )
    return AnalysisInputs(
        overall=tuple(overall),
        breakdowns=tuple(breakdowns),
        daily=tuple(daily),
        exposures=exposures,
        refresh=refresh.report() if refresh is not None else {"mode": "direct"},
    )


StatisticsLookup = dict[tuple[str, str | None, str | None, str], MetricStatistics]


def statistics_lookup(inputs: AnalysisInputs) -> StatisticsLookup:
    """Index statistics by (metric, segment property, segment value, variant)."""
    lookup: StatisticsLookup = {}
    for s in inputs.overall:
        lookup[(s.metric, None, None, s.group)] = s
    for breakdown in inputs.breakdowns:
        for s in breakdown.statistics:
            lookup[(s.metric, breakdown.property, s.segment, s.group)] = s
    return lookup
