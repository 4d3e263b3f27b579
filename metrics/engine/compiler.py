"""The metric compiler: metric definitions × a population → one SQL statement.

The statement computes every unit's value for every metric in one pass over the events, then
returns only sufficient statistics per group (n, Σx, Σx², and Σy, Σy², Σxy for ratios, the
pre-period covariate's sums for CUPED). It is built as a sqlglot tree and rendered per dialect;
every value that comes from a user (event names, property names and values, ids, windows) is a
bound parameter. Nothing here touches Django: ``metrics.runner`` executes the result.

Time is integer microseconds since the epoch, and windows are relative to each unit's start,
so window edges are exact and time zones or daylight-saving changes cannot move them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from metrics.engine.definition import EventFilter, MetricDefinition
from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import APP_EVENTS, EventTable
from metrics.engine.funnels import FunnelSql, funnel_cte_name, is_funnel
from metrics.engine.json_access import JsonAccess
from metrics.engine.population_sql import PopulationSql
from metrics.engine.populations import ExposurePopulation, Population, TablePopulation
from metrics.engine.sql import SUPPORTED_DIALECTS, CompilerError, Params, and_, case, col, num
from metrics.engine.time_units import DAY_US, HOUR_US

MIXED_UNITS = "All metrics of one statement must share the unit of analysis."
NO_METRICS = "Give at least one metric."


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]
    metric_keys: tuple[str, ...]


@dataclass(frozen=True)
class _MetricColumns:
    """Per-unit expressions of one metric, named in the per-unit CTE."""

    value: str
    denominator: str | None = None
    covariate: str | None = None


class MetricCompiler(PopulationSql, FunnelSql):
    """Build the statement for ``metrics`` over ``population`` in workspace ``workspace_id``."""

    # Whether the per-unit step is computed once into a work table (``AS MATERIALIZED``): for
    # a per-unit step without GROUP BY, which the database would otherwise inline, evaluating
    # its expressions again at every use in the sums.
    materialize_per_unit = False

    def __init__(
        self,
        *,
        dialect: str,
        workspace_id: int,
        metrics: Sequence[MetricDefinition],
        population: Population,
        cutoff_us: int,
        covariate_days: int = 0,
        events: EventTable = APP_EVENTS,
    ) -> None:
        if dialect not in SUPPORTED_DIALECTS:
            raise CompilerError(f"Unsupported dialect {dialect!r}.")
        if not metrics:
            raise CompilerError(NO_METRICS)
        if len({m.unit_property for m in metrics}) > 1:
            raise CompilerError(MIXED_UNITS)
        self.dialect = dialect
        self.workspace_id = workspace_id
        self.metrics = tuple(metrics)
        self.population = population
        self.cutoff_us = cutoff_us
        self.covariate_days = covariate_days
        self.unit_property = metrics[0].unit_property
        self.events = events
        self.params = Params()
        self.json = JsonAccess(dialect, self.params, typed=self._typed_properties())
        self._check_sources()

    # --- per-unit values ---------------------------------------------------------------------
    def _t(self) -> exp.Expr:
        return col("timestamp_us", "e")

    def _start(self) -> exp.Expr:
        return col("start_us", "pop")

    def _offset(self, days: int) -> exp.Expr:
        """Return ``pop.start_us + days`` in microseconds (days may be negative)."""
        return exp.Add(this=self._start(), expression=self.params.bind(days * DAY_US))

    def _in_window(self, lo_days: int, hi_days: int) -> exp.Expr:
        return and_(
            exp.GTE(this=self._t(), expression=self._offset(lo_days)),
            exp.LT(this=self._t(), expression=self._offset(hi_days)),
        )

    def _filter(self, f: EventFilter) -> exp.Expr:
        props = col("properties", "e")
        if f.op == "is_set":
            return self.json.is_set(props, f.property)
        if f.op == "is_not_set":
            return exp.Not(this=self.json.is_set(props, f.property))
        if f.op == "eq":
            return self.json.equals(props, f.property, f.value)
        if f.op == "neq":
            return exp.Not(
                this=exp.Coalesce(
                    this=self.json.equals(props, f.property, f.value), expressions=[exp.false()]
                )
            )
        if f.op == "in":
            return exp.or_(*(self.json.equals(props, f.property, v) for v in f.value))
        number = self.json.number(props, f.property)
        comparison = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}[f.op]
        return comparison(this=number, expression=self.params.bind(f.value))

    def _matches(self, event: str, filters: Sequence[EventFilter]) -> exp.Expr:
        conditions: list[exp.Expr] = []
        if event:
            conditions.append(exp.EQ(this=col("event", "e"), expression=self.params.bind(event)))
        conditions.extend(self._filter(f) for f in filters)
        return and_(*conditions)

    def _value_in(
        self, m: MetricDefinition, lo: int, hi: int, *, as_covariate: bool = False
    ) -> exp.Expr:
        """The per-unit aggregate of ``m`` over days [lo, hi) after the start."""
        hit = and_(self._matches(m.event, m.filters), self._in_window(lo, hi))
        props = col("properties", "e")
        if m.type in ("conversion", "retention"):
            return exp.Max(this=case(hit, num(1), num(0)))
        if m.type == "count" or (m.type == "moment" and as_covariate):
            return _count(hit)
        if m.type == "moment":
            count_ok = exp.GTE(
                this=_count(hit),
                expression=self.params.bind(m.min_count),
            )
            day_index = exp.Div(
                this=exp.paren(exp.Sub(this=self._t(), expression=self._start())),
                expression=self.params.bind(DAY_US),
                typed=True,
            )
            days_ok = exp.GTE(
                this=get_dialect(self.dialect).distinct_days(hit, day_index, hi - lo),
                expression=self.params.bind(m.min_distinct_days),
            )
            return case(and_(count_ok, days_ok), num(1), num(0))
        if m.type == "time_to_event":
            elapsed = exp.Sub(this=self._t(), expression=self._start())
            return exp.Min(this=case(hit, elapsed))
        if m.type in ("sum", "mean") or (m.type == "ratio" and m.property_name):
            number = self.json.number(props, m.property_name)
            if m.type == "mean":
                return exp.Avg(this=case(hit, number))
            return exp.Sum(this=case(hit, exp.Coalesce(this=number, expressions=[num(0)]), num(0)))
        return _count(hit)  # ratio numerator counted

    def _denominator(self, m: MetricDefinition) -> exp.Expr:
        lo, hi = m.window_bounds_days
        hit = and_(
            self._matches(m.denominator_event, m.denominator_filters), self._in_window(lo, hi)
        )
        if m.denominator_property:
            number = self.json.number(col("properties", "e"), m.denominator_property)
            return exp.Sum(this=case(hit, exp.Coalesce(this=number, expressions=[num(0)]), num(0)))
        return _count(hit)

    def _per_unit(self) -> tuple[exp.Select, list[_MetricColumns]]:
        columns: list[exp.Expr] = [
            col("unit_id", "pop"),
            col("start_us", "pop"),
            *(col(name, "pop") for name in self._varying()),
        ]
        named: list[_MetricColumns] = []
        for i, m in enumerate(self.metrics):
            if is_funnel(m):  # its own CTE (``metrics.engine.funnels``), joined below
                columns.extend(exp.alias_(e, name) for name, e in self._funnel_per_unit(i, m))
                named.append(_MetricColumns(value=f"m{i}_x"))
                continue
            lo, hi = m.window_bounds_days
            names = _MetricColumns(
                value=f"m{i}_x",
                denominator=f"m{i}_y" if m.is_ratio else None,
                covariate=f"m{i}_c" if self._has_covariate(m) else None,
            )
            columns.append(exp.alias_(self._value_in(m, lo, hi), names.value))
            if names.denominator:
                columns.append(exp.alias_(self._denominator(m), names.denominator))
            if names.covariate:
                pre = self._value_in(m, -self.covariate_days, 0, as_covariate=True)
                if m.type == "mean":
                    pre = exp.Coalesce(this=pre, expressions=[num(0)])
                columns.append(exp.alias_(pre, names.covariate))
            named.append(names)
        select = exp.select(*columns).from_(exp.to_table("population").as_("pop"))
        plain = [m for m in self.metrics if not is_funnel(m)]
        if plain:
            on = self._events_on(plain)
            select = select.join(self._source().subquery("e"), on=on, join_type="left")
        for table, on in self._funnel_joins():
            select = select.join(table, on=on, join_type="left")
        select = select.group_by(
            col("unit_id", "pop"),
            col("start_us", "pop"),
            *(col(name, "pop") for name in self._varying()),
        )
        return select, named

    def _events_on(self, metrics: Sequence[MetricDefinition]) -> exp.Expr:
        """The per-unit step's join of a unit's events: in the widest window, before the
        cut-off, of the metrics' events."""
        lo_days = -self.covariate_days if self.covariate_days else 0
        hi_days = max(m.window_bounds_days[1] for m in metrics)
        join_on: list[exp.Expr] = [
            exp.EQ(this=col("unit_id", "e"), expression=col("unit_id", "pop")),
            exp.GTE(this=self._t(), expression=self._offset(min(lo_days, 0))),
            exp.LT(this=self._t(), expression=self._offset(hi_days)),
            exp.LT(this=self._t(), expression=self.params.bind(self.cutoff_us)),
        ]
        events = {m.event for m in metrics} | {m.denominator_event for m in metrics if m.is_ratio}
        if "" not in events:
            join_on.append(
                exp.In(
                    this=col("event", "e"),
                    expressions=[self.params.bind(name) for name in sorted(events)],
                )
            )
        return and_(*join_on)

    def _varying(self) -> tuple[str, ...]:
        """Return which of the population's ``grp`` and ``seg`` columns differ between units."""
        pop = self.population
        listed = isinstance(pop, TablePopulation | ExposurePopulation)
        grouped = listed or bool(pop.bucket_us)
        bucketed = listed and bool(pop.bucket_us)
        return tuple(
            name
            for name, varies in (
                ("grp", grouped),
                ("seg", bool(pop.segment_property)),
                ("bkt", bucketed),
            )
            if varies
        )

    def _has_covariate(self, m: MetricDefinition) -> bool:
        return self.covariate_days > 0 and m.type not in ("time_to_event", "ratio", "funnel")

    # --- capping ------------------------------------------------------------------------------
    def _mature(self, m: MetricDefinition, table: str = "pu") -> exp.Expr:
        return exp.LTE(
            this=exp.Add(
                this=col("start_us", table), expression=self.params.bind(m.maturity_days * DAY_US)
            ),
            expression=self.params.bind(self.cutoff_us),
        )

    def _percentile_cap(self, m: MetricDefinition, column: str) -> exp.Expr:
        """The nearest-rank ``cap_value`` quantile of matured units' values, pooled over groups."""
        ranked = (
            exp.select(
                exp.alias_(col(column, "r"), "v"),
                exp.alias_(
                    exp.Window(
                        this=exp.RowNumber(),
                        order=exp.Order(expressions=[exp.Ordered(this=col(column, "r"))]),
                    ),
                    "rn",
                ),
                exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), "cnt"),
            )
            .from_(exp.to_table("per_unit").as_("r"))
            .where(
                and_(
                    self._mature(m, "r"),
                    exp.Not(this=exp.Is(this=col(column, "r"), expression=exp.null())),
                )
            )
        )
        threshold = exp.Mul(
            this=self.params.bind(float(m.cap_value or 0)), expression=col("cnt", "q")
        )
        pick = (
            exp.select(exp.Min(this=col("v", "q")))
            .from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this="q")))
            .where(exp.GTE(this=col("rn", "q"), expression=threshold))
        )
        return exp.Subquery(this=pick)

    def _capped(self, m: MetricDefinition, column: str) -> exp.Expr:
        value = col(column, "pu")
        if m.cap_type == "none":
            return value
        cap = (
            self.params.bind(m.cap_value)
            if m.cap_type == "absolute"
            else self._percentile_cap(m, column)
        )
        return case(exp.GT(this=value, expression=cap), cap.copy(), value)

    # --- the final aggregate -----------------------------------------------------------------
    def compile(self) -> CompiledQuery:
        per_unit, named = self._per_unit()
        # A group or segment that is the same for every unit is a literal, not a grouping key:
        # grouping by it would cost the database a sort of every per-unit row.
        varying = self._varying()
        outputs: list[exp.Expr] = [
            col(name, "pu") if name in varying else exp.alias_(exp.Literal.string("all"), name)
            for name in ("grp", "seg", "bkt")
        ]
        out_names = ["grp", "seg", "bkt"]

        def add(name: str, expression: exp.Expr) -> None:
            outputs.append(exp.alias_(expression, name))
            out_names.append(name)

        for i, (m, cols) in enumerate(zip(self.metrics, named, strict=True)):
            mature = self._mature(m)
            x = self._capped(m, cols.value)
            has_value = and_(
                mature, exp.Not(this=exp.Is(this=col(cols.value, "pu"), expression=exp.null()))
            )
            if m.type == "time_to_event":
                x = exp.Div(this=exp.cast(x, "DOUBLE"), expression=num(float(HOUR_US)))
            x = exp.cast(x, "DOUBLE")
            add(f"m{i}_units", exp.Sum(this=case(mature, num(1), num(0))))
            add(f"m{i}_immature", exp.Sum(this=case(exp.Not(this=mature), num(1), num(0))))
            add(f"m{i}_n", exp.Sum(this=case(has_value, num(1), num(0))))
            add(f"m{i}_sum", exp.Sum(this=case(has_value, x)))
            add(
                f"m{i}_sum_squares",
                exp.Sum(this=case(has_value, exp.Mul(this=x, expression=x.copy()))),
            )
            if cols.denominator:
                y = exp.cast(col(cols.denominator, "pu"), "DOUBLE")
                add(f"m{i}_den_sum", exp.Sum(this=case(has_value, y)))
                add(
                    f"m{i}_den_sum_squares",
                    exp.Sum(this=case(has_value, exp.Mul(this=y, expression=y.copy()))),
                )
                add(
                    f"m{i}_sum_product",
                    exp.Sum(this=case(has_value, exp.Mul(this=x.copy(), expression=y.copy()))),
                )
            if cols.covariate:
                c = exp.cast(col(cols.covariate, "pu"), "DOUBLE")
                add(f"m{i}_cov_sum", exp.Sum(this=case(has_value, c)))
                add(
                    f"m{i}_cov_sum_squares",
                    exp.Sum(this=case(has_value, exp.Mul(this=c, expression=c.copy()))),
                )
                add(
                    f"m{i}_cov_sum_product",
                    exp.Sum(this=case(has_value, exp.Mul(this=x.copy(), expression=c.copy()))),
                )
            if is_funnel(m):
                for name, expression in self._funnel_outputs(i, m, mature):
                    add(name, expression)

        query = (
            exp.select(*outputs)
            .from_(exp.to_table("per_unit").as_("pu"))
            .with_("population", as_=self._population())
        )
        for index, m in self._funnels():
            query = query.with_(funnel_cte_name(index), as_=self._funnel_cte(m))
        query = query.with_(
            "per_unit", as_=per_unit, materialized=self.materialize_per_unit or None
        )
        if varying:
            keys = [col(name, "pu") for name in varying]
            query = query.group_by(*keys).order_by(*(k.copy() for k in keys))
        return CompiledQuery(
            sql=get_dialect(self.dialect).render(query, self.params.values),
            params=dict(self.params.values),
            columns=tuple(out_names),
            metric_keys=tuple(m.key for m in self.metrics),
        )


def _count(hit: exp.Expr) -> exp.Expr:
    """Return ``COUNT(CASE WHEN hit THEN 1 END)``: the number of a unit's events that match.

    The same value as ``SUM(CASE WHEN hit THEN 1 ELSE 0 END)`` (a unit's group always has a
    row), with a smaller, cheaper aggregate state: at ten million units times a score of
    metrics, DuckDB's per-unit step ran 13% faster in 30% less memory.
    """
    return exp.Count(this=case(hit, num(1)))


def compile_metrics(
    *,
    dialect: str,
    workspace_id: int,
    metrics: Sequence[MetricDefinition],
    population: Population,
    cutoff_us: int,
    covariate_days: int = 0,
    events: EventTable = APP_EVENTS,
) -> CompiledQuery:
    """Return the one statement computing ``metrics`` over ``population``, for ``dialect``."""
    return MetricCompiler(
        dialect=dialect,
        workspace_id=workspace_id,
        metrics=metrics,
        population=population,
        cutoff_us=cutoff_us,
        covariate_days=covariate_days,
        events=events,
    ).compile()
