"""Quantile metrics: one statement per metric that returns, per group, the sample quantile and
the order statistics its confidence interval needs, never the values themselves.

A quantile metric is of one value per unit (the sum of ``property`` over the unit's matching
events in the window, or without a property the hours to its first matching event; units
without one have no value) or of each matching event's ``property`` (event-level). Every
quantile is the linear-interpolation sample quantile (numpy's default "linear", PostgreSQL's
``percentile_cont``): the value at 0-based position h = (n − 1)·p of the sorted values.

The interval follows GrowthBook (docs.growthbook.io/statistics/quantile; gbstats
``QuantileStatistic``): besides the quantile ν the statement returns the quantiles at
ν ± z·√(ν(1 − ν)/n*) for every n* of a fixed grid (levels must be constants in the engines'
quantile functions, and n is only known inside the statement); the runner keeps the band of
the largest n* ≤ n. Event-level metrics also return, per group, sums over units of the number
of their events at or below the quantile and of their events (GrowthBook's cluster
adjustment: events of one unit are not independent).

Engines with an exact quantile aggregate (DuckDB ``quantile_cont``, ClickHouse
``quantilesExactInclusive``, Spark ``percentile``) compute all levels in one sort
(``Dialect.quantile_list``); elsewhere (SQLite, which has no percentile function, PostgreSQL,
and the warehouses we only render) the values are ranked with window functions (0-based rank
r) and each level is v₍⌊h⌋₎ + (h − ⌊h⌋)·(v₍⌈h⌉₎ − v₍⌊h⌋₎), the values at the ranks just below
and above h picked by MAX and MIN: the same number, exact, on standard SQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from metrics.engine.compiler import CompiledQuery, MetricCompiler
from metrics.engine.definition import MetricDefinition
from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import APP_EVENTS, EventTable
from metrics.engine.populations import Population
from metrics.engine.sql import CompilerError, and_, case, col, num
from metrics.engine.time_units import HOUR_US

# z_{0.975}: the band is a density estimate, so its width is fixed whatever the analysis's α.
BAND_Z = 1.959963984540054
# The n* grid: 100·2^(k/2). GrowthBook doubles (100·2^(k−1)); half-steps keep n*/n ≥ 0.71.
N_STAR_GRID: tuple[int, ...] = tuple(round(100 * 2 ** (k / 2)) for k in range(41))
# Sums an event-level statement adds for the cluster adjustment (GrowthBook's names in brackets).
CLUSTER_COLUMNS = (
    "clusters",  # units with at least one value [n_clusters]
    "below_sum",  # Σ_i S_i, S_i = the unit's values ≤ the quantile [main_sum]
    "below_sum_squares",  # Σ S_i² [main_sum_squares]
    "count_sum",  # Σ N_i, N_i = the unit's values [denominator_sum]
    "count_sum_squares",  # Σ N_i² [denominator_sum_squares]
    "below_count_sum_product",  # Σ S_i·N_i [main_denominator_sum_product]
)
NOT_A_QUANTILE = "Metric {key!r} is not a quantile metric."


def band_levels(level: float, n_star: int) -> tuple[float, float]:
    """Return ν ∓ z·√(ν(1 − ν)/n*), clamped to [0, 1] (a clamped band is refused later)."""
    half = BAND_Z * math.sqrt(level * (1.0 - level) / n_star)
    return max(level - half, 0.0), min(level + half, 1.0)


def statement_levels(level: float) -> tuple[float, ...]:
    """The levels a statement computes: ν, then the band of each n* of the grid."""
    levels = [level]
    for n_star in N_STAR_GRID:
        levels.extend(band_levels(level, n_star))
    return tuple(levels)


@dataclass(frozen=True)
class QuantileSummary:
    """One group's quantile and what its interval needs (see ``experiments.stats.quantiles``).

    ``n`` values (units with a value, or events); ``estimate`` the ν quantile; ``lower`` and
    ``upper`` the quantiles at ν ∓ ``band_z``·√(ν(1 − ν)/``n_star``), n* the largest grid
    size ≤ n (None, and no band, when n is below the grid). Event-level summaries carry the
    cluster sums (None for unit-level ones).
    """

    level: float
    n: int
    estimate: float | None
    n_star: int | None
    lower: float | None
    upper: float | None
    band_z: float = BAND_Z
    event_level: bool = False
    clusters: int | None = None
    below_sum: float | None = None
    below_sum_squares: float | None = None
    count_sum: float | None = None
    count_sum_squares: float | None = None
    below_count_sum_product: float | None = None

    def interval(self) -> tuple[float | None, float | None]:
        """The quantile's own 95% interval: the band's order statistics L and U narrowed by
        √(n*/n) around the estimate (the band is for n* ≤ n values; GrowthBook's variance
        scales the same way) and, for event-level values, widened by the cluster adjustment;
        (None, None) without a band."""
        if self.estimate is None or self.lower is None or self.upper is None or not self.n_star:
            return None, None
        scale = math.sqrt(self.n_star / self.n)
        if self.event_level:
            inflation = self.cluster_inflation()
            if inflation is None:
                return None, None
            scale *= math.sqrt(inflation)
        return (
            self.estimate - (self.estimate - self.lower) * scale,
            self.estimate + (self.upper - self.estimate) * scale,
        )

    def cluster_inflation(self) -> float | None:
        """Var_c(Ī)/(ν(1 − ν)/n): how much events of one unit being alike widens the interval
        (``experiments.stats.quantiles.cluster_variance`` has the formula and source)."""
        k = self.clusters or 0
        if k < 2 or not self.count_sum or not self.n:
            return None
        mean_s, mean_n = (self.below_sum or 0.0) / k, self.count_sum / k
        var_s = ((self.below_sum_squares or 0.0) / k - mean_s**2) * k / (k - 1)
        var_n = ((self.count_sum_squares or 0.0) / k - mean_n**2) * k / (k - 1)
        cov = ((self.below_count_sum_product or 0.0) / k - mean_s * mean_n) * k / (k - 1)
        share = mean_s / mean_n
        variance = (var_s - 2 * share * cov + share**2 * var_n) / (k * mean_n**2)
        iid = self.level * (1 - self.level) / self.n
        return variance / iid if variance >= 0 and iid > 0 else None


def _float(value: Any) -> float | None:
    """A finite float, or None (NULL, or NaN where an engine gives it for an empty group)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def summary_of(metric: MetricDefinition, record: dict[str, Any]) -> QuantileSummary:
    """Return the summary in one output row of the metric's statement."""
    level = float(metric.quantile or 0.0)
    n = int(record["n"] or 0)
    fitting = [k for k, n_star in enumerate(N_STAR_GRID) if n_star <= n]
    k = fitting[-1] if fitting else None
    event_level = metric.quantile_of == "event"
    cluster: dict[str, Any] = {}
    if event_level:
        cluster = {name: _float(record.get(name)) or 0.0 for name in CLUSTER_COLUMNS}
        cluster["clusters"] = int(cluster["clusters"])
    return QuantileSummary(
        level=level,
        n=n,
        estimate=_float(record["q0"]) if n else None,
        n_star=N_STAR_GRID[k] if k is not None else None,
        lower=_float(record[f"q{1 + 2 * k}"]) if k is not None else None,
        upper=_float(record[f"q{2 + 2 * k}"]) if k is not None else None,
        event_level=event_level,
        **cluster,
    )


class QuantileCompiler(MetricCompiler):
    """Build the statement of one quantile metric over ``population`` (groups and segments;
    cohort buckets of a table population are pooled)."""

    def __init__(
        self,
        *,
        dialect: str,
        workspace_id: int,
        metric: MetricDefinition,
        population: Population,
        cutoff_us: int,
        events: EventTable = APP_EVENTS,
    ) -> None:
        if metric.type != "quantile":
            raise CompilerError(NOT_A_QUANTILE.format(key=metric.key))
        super().__init__(
            dialect=dialect,
            workspace_id=workspace_id,
            metrics=[metric],
            population=population,
            cutoff_us=cutoff_us,
            events=events,
        )
        self.metric = metric
        self.levels = statement_levels(float(metric.quantile or 0.0))

    # --- values --------------------------------------------------------------------------------
    def _value_in(
        self, m: MetricDefinition, lo: int, hi: int, *, as_covariate: bool = False
    ) -> exp.Expr:
        """A unit's value: Σ property over its matching events in the window (NULL if none
        has a number), or the hours from its start to the first of them (NULL if none)."""
        if m.type != "quantile":
            return super()._value_in(m, lo, hi, as_covariate=as_covariate)
        hit = and_(self._matches(m.event, m.filters), self._in_window(lo, hi))
        if m.property_name:
            return exp.Sum(
                this=case(hit, self.json.number(col("properties", "e"), m.property_name))
            )
        elapsed = exp.cast(exp.Sub(this=self._t(), expression=self._start()), "DOUBLE")
        return exp.Div(this=exp.Min(this=case(hit, elapsed)), expression=num(float(HOUR_US)))

    def _varying(self) -> tuple[str, ...]:
        """Group and segment always (the outer statement joins on them); buckets pooled."""
        return ("grp", "seg")

    def _keys(self, table: str) -> list[exp.Expr]:
        return [col("grp", table), col("seg", table)]

    def _unit_values(self) -> exp.Select:
        """(grp, seg, v): matured units' values (``per_unit`` is defined beside it)."""
        return (
            exp.select(*self._keys("pu"), exp.alias_(col("m0_x", "pu"), "v"))
            .from_(exp.to_table("per_unit").as_("pu"))
            .where(
                and_(
                    self._mature(self.metric, "pu"),
                    exp.Not(this=exp.Is(this=col("m0_x", "pu"), expression=exp.null())),
                )
            )
        )

    def _event_values(self) -> exp.Select:
        """(grp, seg, unit_id, v): each matching event's number, of matured units."""
        m = self.metric
        lo, hi = m.window_bounds_days
        number = self.json.number(col("properties", "e"), m.property_name)
        on = and_(
            exp.EQ(this=col("unit_id", "e"), expression=col("unit_id", "pop")),
            self._in_window(lo, hi),
            exp.LT(this=self._t(), expression=self.params.bind(self.cutoff_us)),
            self._matches(m.event, m.filters),
        )
        return (
            exp.select(
                *self._keys("pop"),
                col("unit_id", "pop"),
                exp.alias_(exp.cast(number, "DOUBLE"), "v"),
            )
            .from_(exp.to_table("population").as_("pop"))
            .join(self._source().subquery("e"), on=on, join_type="inner")
            .where(
                and_(
                    self._mature(m, "pop"),
                    exp.Not(this=exp.Is(this=number.copy(), expression=exp.null())),
                )
            )
        )

    # --- quantiles -----------------------------------------------------------------------------
    def _aggregated(self) -> exp.Select | None:
        """(grp, seg, n, q0..qL) from the engine's quantile aggregate, or None without one."""
        hooks = get_dialect(self.dialect)
        values = col("v", "vl")
        listed = hooks.quantile_list(values, self.levels)
        if listed is None:
            return None
        inner = (
            exp.select(
                *self._keys("vl"),
                exp.alias_(exp.Count(this=exp.Star()), "n"),
                exp.alias_(listed, "qs"),
            )
            .from_(exp.to_table("vals").as_("vl"))
            .group_by(*self._keys("vl"))
        )
        return exp.select(
            *self._keys("qa"),
            col("n", "qa"),
            *(
                exp.alias_(hooks.list_element(col("qs", "qa"), i + 1), f"q{i}")
                for i in range(len(self.levels))
            ),
        ).from_(inner.subquery("qa"))

    def _ranked(self) -> exp.Select:
        """(grp, seg, n, q0..qL) by ranking the values (0-based rank r) and interpolating
        between the values at ⌊h⌋ and ⌈h⌉, h = (n − 1)p."""
        partition = self._keys("vl")
        ranked = exp.select(
            *self._keys("vl"),
            col("v", "vl"),
            exp.alias_(
                exp.Sub(
                    this=exp.Window(
                        this=exp.RowNumber(),
                        partition_by=partition,
                        order=exp.Order(expressions=[exp.Ordered(this=col("v", "vl"))]),
                    ),
                    expression=num(1),
                ),
                "r",
            ),
            exp.alias_(
                exp.Window(
                    this=exp.Count(this=exp.Star()), partition_by=[k.copy() for k in partition]
                ),
                "c",
            ),
        ).from_(exp.to_table("vals").as_("vl"))
        outputs: list[exp.Expr] = [*self._keys("rk"), exp.alias_(exp.Max(this=col("c", "rk")), "n")]
        for i, level in enumerate(self.levels):
            # h = (n − 1)p. below: the value (and rank) at ⌊h⌋, the largest rank ≤ h; above: the
            # value at ⌈h⌉. below + (h − ⌊h⌋)·(above − below) is exact when they are equal.
            at_or_below = exp.LTE(this=col("r", "rk"), expression=_position(col("c", "rk"), level))
            at_or_above = exp.GTE(this=col("r", "rk"), expression=_position(col("c", "rk"), level))
            below = exp.Max(this=case(at_or_below, col("v", "rk")))
            below_rank = exp.Max(this=case(at_or_below.copy(), col("r", "rk")))
            above = exp.Min(this=case(at_or_above, col("v", "rk")))
            fraction = exp.Sub(
                this=_position(exp.Max(this=col("c", "rk")), level), expression=below_rank
            )
            step = exp.Sub(this=above, expression=below.copy())
            value = exp.Add(
                this=below, expression=exp.Mul(this=exp.paren(fraction), expression=exp.paren(step))
            )
            outputs.append(exp.alias_(value, f"q{i}"))
        return exp.select(*outputs).from_(ranked.subquery("rk")).group_by(*self._keys("rk"))

    def _clusters(self) -> exp.Select:
        """Per group, the cluster sums over units of (values ≤ the quantile, values)."""
        on = and_(
            exp.EQ(this=col("grp", "vl"), expression=col("grp", "qs")),
            exp.EQ(this=col("seg", "vl"), expression=col("seg", "qs")),
        )
        below = exp.Sum(
            this=case(exp.LTE(this=col("v", "vl"), expression=col("q0", "qs")), num(1), num(0))
        )
        per_unit = (
            exp.select(
                *self._keys("vl"),
                exp.alias_(exp.cast(below, "DOUBLE"), "s"),
                exp.alias_(exp.cast(exp.Count(this=exp.Star()), "DOUBLE"), "k"),
            )
            .from_(exp.to_table("vals").as_("vl"))
            .join(exp.to_table("qs").as_("qs"), on=on, join_type="inner")
            .group_by(*self._keys("vl"), col("unit_id", "vl"))
        )
        s, k = col("s", "cu"), col("k", "cu")
        sums = {
            "clusters": exp.Count(this=exp.Star()),
            "below_sum": exp.Sum(this=s),
            "below_sum_squares": exp.Sum(this=exp.Mul(this=s.copy(), expression=s.copy())),
            "count_sum": exp.Sum(this=k),
            "count_sum_squares": exp.Sum(this=exp.Mul(this=k.copy(), expression=k.copy())),
            "below_count_sum_product": exp.Sum(this=exp.Mul(this=s.copy(), expression=k.copy())),
        }
        return (
            exp.select(*self._keys("cu"), *(exp.alias_(v, name) for name, v in sums.items()))
            .from_(per_unit.subquery("cu"))
            .group_by(*self._keys("cu"))
        )

    def _counts(self) -> exp.Select:
        """(grp, seg, units, immature): every unit of the population, matured or not."""
        mature = self._mature(self.metric, "pop")
        return (
            exp.select(
                *self._keys("pop"),
                exp.alias_(exp.Sum(this=case(mature, num(1), num(0))), "units"),
                exp.alias_(
                    exp.Sum(this=case(exp.Not(this=mature.copy()), num(1), num(0))), "immature"
                ),
            )
            .from_(exp.to_table("population").as_("pop"))
            .group_by(*self._keys("pop"))
        )

    def compile(self) -> CompiledQuery:
        event_level = self.metric.quantile_of == "event"
        query = exp.select().with_("population", as_=self._population())
        if event_level:
            query = query.with_("vals", as_=self._event_values())
        else:
            per_unit, _ = self._per_unit()
            query = query.with_("per_unit", as_=per_unit).with_("vals", as_=self._unit_values())
        quantiles = self._aggregated() or self._ranked()
        query = query.with_("qs", as_=quantiles)
        columns = [
            "grp",
            "seg",
            "units",
            "immature",
            "n",
            *(f"q{i}" for i in range(len(self.levels))),
        ]
        outputs: list[exp.Expr] = [
            col("grp", "ct"),
            col("seg", "ct"),
            col("units", "ct"),
            col("immature", "ct"),
            exp.alias_(exp.Coalesce(this=col("n", "qs"), expressions=[num(0)]), "n"),
            *(col(f"q{i}", "qs") for i in range(len(self.levels))),
        ]
        select = query.select(*outputs).from_(exp.to_table("counts").as_("ct"))
        select = select.with_("counts", as_=self._counts())
        same = and_(
            exp.EQ(this=col("grp", "qs"), expression=col("grp", "ct")),
            exp.EQ(this=col("seg", "qs"), expression=col("seg", "ct")),
        )
        select = select.join(exp.to_table("qs").as_("qs"), on=same, join_type="left")
        if event_level:
            select = select.with_("cl", as_=self._clusters())
            select = select.select(*(col(name, "cl") for name in CLUSTER_COLUMNS))
            columns += CLUSTER_COLUMNS
            same_cl = and_(
                exp.EQ(this=col("grp", "cl"), expression=col("grp", "ct")),
                exp.EQ(this=col("seg", "cl"), expression=col("seg", "ct")),
            )
            select = select.join(exp.to_table("cl").as_("cl"), on=same_cl, join_type="left")
        select = select.order_by(col("grp", "ct"), col("seg", "ct"))
        return CompiledQuery(
            sql=get_dialect(self.dialect).render(select, self.params.values),
            params=dict(self.params.values),
            columns=tuple(columns),
            metric_keys=(self.metric.key,),
        )


def _position(count: exp.Expr, level: float) -> exp.Expr:
    """h = (count − 1)·level: the 0-based position of the ``level`` quantile."""
    return exp.Mul(
        this=exp.paren(exp.Sub(this=count, expression=num(1))),
        expression=exp.Literal.number(repr(level)),
    )


def compile_quantile(
    *,
    dialect: str,
    workspace_id: int,
    metric: MetricDefinition,
    population: Population,
    cutoff_us: int,
    events: EventTable = APP_EVENTS,
) -> CompiledQuery:
    """Return the statement computing quantile ``metric`` over ``population``, for ``dialect``."""
    return QuantileCompiler(
        dialect=dialect,
        workspace_id=workspace_id,
        metric=metric,
        population=population,
        cutoff_us=cutoff_us,
        events=events,
    ).compile()


def summaries_of(
    metric: MetricDefinition, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[dict[str, Any], QuantileSummary]]:
    """Return each output row (as a record) with its summary."""
    out = []
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        out.append((record, summary_of(metric, record)))
    return out
