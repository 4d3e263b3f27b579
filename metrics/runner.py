"""Run compiled metric statements on an engine (the app database by default); return
sufficient statistics.

Only one row per group travels back to Python, whatever the number of events and units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from metrics.engine.compiler import compile_metrics
from metrics.engine.definition import MetricDefinition
from metrics.engine.event_tables import APP_EVENTS, EventTable
from metrics.engine.populations import Population
from metrics.engine.quantiles import QuantileSummary, compile_quantile, summaries_of
from metrics.engines.app_db import AppDatabaseEngine, dialect_of
from metrics.engines.base import Engine

__all__ = ["MetricStatistics", "compute_metric_statistics", "dialect_of", "statistics_of"]


@dataclass(frozen=True)
class MetricStatistics:
    """Sufficient statistics of one metric in one group (variant or cohort) and segment.

    ``units`` matured units were in the population; ``n`` of them have a value (all of them,
    except for ``mean`` metrics, where units without events have none, and ``time_to_event``,
    where ``n`` reached the event and ``units - n`` never did within the window).
    ``immature_units`` were left out because their window had not passed by the cut-off.
    Time to event is in hours. Funnels: ``steps[k]`` matured units reached step k + 1 (the
    value is the whole funnel's conversion, ``steps[-1] / units``).
    Quantile metrics carry their ``quantile`` summary instead of
    sums (``n`` counts their values: units with one, or events); they do not add up across
    groups, segments or buckets.
    """

    metric: str
    group: str
    segment: str
    units: int
    immature_units: int
    n: int
    sum: float
    sum_squares: float
    denominator_sum: float | None = None
    denominator_sum_squares: float | None = None
    sum_product: float | None = None
    covariate_sum: float | None = None
    covariate_sum_squares: float | None = None
    covariate_sum_product: float | None = None
    bucket: str = "all"  # the start's bucket (a TablePopulation with bucket_us), else "all"
    steps: tuple[int, ...] = ()  # funnels: matured units that reached each step, in order
    quantile: QuantileSummary | None = None

    @property
    def mean(self) -> float | None:
        """Return Σx / n, or None when no unit has a value."""
        return self.sum / self.n if self.n else None

    @property
    def ratio(self) -> float | None:
        """Return Σx / Σy for ratio metrics, or None when the denominator is zero."""
        if not self.denominator_sum:
            return None
        return self.sum / self.denominator_sum

    @property
    def value(self) -> float | None:
        """Return the metric's headline value: the quantile for quantile metrics, the ratio
        for ratio metrics, else the mean."""
        if self.quantile is not None:
            return self.quantile.estimate
        return self.ratio if self.denominator_sum is not None else self.mean


def _float(value: Any) -> float:
    return float(value) if value is not None else 0.0


def compute_metric_statistics(
    *,
    workspace_id: int,
    metrics: Sequence[MetricDefinition],
    population: Population,
    cutoff_us: int,
    covariate_days: int = 0,
    using: str = "default",
    engine: Engine | None = None,
    events: EventTable = APP_EVENTS,
) -> list[MetricStatistics]:
    """Compute ``metrics`` over ``population`` on ``engine`` (default: the app database
    ``using``), reading events from ``events``; one statement per unit type.

    Metrics of different units of analysis (users, accounts through different properties) need
    different joins, so they run as separate statements; each returns only per-group sums.
    Each quantile metric runs as a statement of its own (``metrics.engine.quantiles``), which
    returns its quantile summary per group; cohort buckets of a table population are pooled
    there, and the covariate is not computed.
    """
    by_unit: dict[str, list[MetricDefinition]] = {}
    quantiles = [m for m in metrics if m.type == "quantile"]
    for metric in metrics:
        if metric.type != "quantile":
            by_unit.setdefault(metric.unit_property, []).append(metric)
    engine = engine or AppDatabaseEngine(using=using)
    results: list[MetricStatistics] = []
    for group in by_unit.values():
        query = compile_metrics(
            dialect=engine.dialect,
            workspace_id=workspace_id,
            metrics=group,
            population=population,
            cutoff_us=cutoff_us,
            covariate_days=covariate_days,
            events=events,
        )
        results.extend(statistics_of(group, query.columns, engine.execute(query.sql, query.params)))
    for metric in quantiles:
        query = compile_quantile(
            dialect=engine.dialect,
            workspace_id=workspace_id,
            metric=metric,
            population=population,
            cutoff_us=cutoff_us,
            events=events,
        )
        results.extend(
            quantile_statistics_of(metric, query.columns, engine.execute(query.sql, query.params))
        )
    return results


def statistics_of(
    metrics: Sequence[MetricDefinition], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[MetricStatistics]:
    """Return the statistics in the rows of a compiled statement over ``metrics``."""
    results = []
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        for i, metric in enumerate(metrics):
            results.append(_statistics(metric, i, record))
    return results


def quantile_statistics_of(
    metric: MetricDefinition, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[MetricStatistics]:
    """Return the statistics in the rows of a quantile metric's statement."""
    return [
        MetricStatistics(
            metric=metric.key,
            group=str(record["grp"]),
            segment=str(record["seg"]),
            units=int(_float(record["units"])),
            immature_units=int(_float(record["immature"])),
            n=summary.n,
            sum=0.0,
            sum_squares=0.0,
            quantile=summary,
        )
        for record, summary in summaries_of(metric, columns, rows)
    ]


def _statistics(metric: MetricDefinition, i: int, record: dict[str, object]) -> MetricStatistics:
    prefix = f"m{i}_"
    optional: dict[str, Any] = {}  # the optional sums, by field name
    for source, target in (
        ("den_sum", "denominator_sum"),
        ("den_sum_squares", "denominator_sum_squares"),
        ("sum_product", "sum_product"),
        ("cov_sum", "covariate_sum"),
        ("cov_sum_squares", "covariate_sum_squares"),
        ("cov_sum_product", "covariate_sum_product"),
    ):
        if prefix + source in record:
            optional[target] = _float(record[prefix + source])
    steps = tuple(int(_float(record[prefix + f"step{k}"])) for k in range(len(metric.steps)))
    return MetricStatistics(
        metric=metric.key,
        steps=steps,
        group=str(record["grp"]),
        segment=str(record["seg"]),
        bucket=str(record.get("bkt", "all")),
        units=int(_float(record[prefix + "units"])),
        immature_units=int(_float(record[prefix + "immature"])),
        n=int(_float(record[prefix + "n"])),
        sum=_float(record[prefix + "sum"]),
        sum_squares=_float(record[prefix + "sum_squares"]),
        **optional,
    )
