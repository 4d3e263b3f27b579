"""Incremental refresh of metric statistics: the statements that keep per-unit partial
aggregates between refreshes, and the one that turns them into sufficient statistics.

A scope (one experiment phase, say) keeps two layers, both in the engine that holds the events:

- **Day rows** (``metrics_partial_day``): per metric part × unit × ``rel_day`` × ``slice_day``,
  the matching events' count, the sum of the part's property (JSON numbers only, missing or
  non-numeric as 0, as the compiler sums), how many events had a number, and the earliest
  ``t - start``. ``rel_day`` = floor((t - start) / day), negative before the start (CUPED's
  pre-period); ``slice_day`` = floor(t / day), the UTC day of the event. A *part* is one event
  with its filters (and property): a metric's numerator, or a ratio's denominator; metrics that
  count the same events share one. Metric windows are whole days from the start, so a sum of
  day rows over ``rel_day`` in [lo, hi) is exactly the unit's value of every metric type.
- **Unit values** (``metrics_partial_value``): per unit × metric, the value, the denominator and
  the covariate the compiler's per-unit step would give. They are recomputed from day rows only
  for the units a refresh touched (``metrics_partial_dirty``), so the final statement reads one
  row per unit and metric, not the history.

A refresh deletes the day rows of the last slices (``slice_day >= since_day``: the lookback),
re-aggregates the events of those days, builds units that are new or whose start moved (a late,
earlier exposure) from all their events, then recomputes the touched units' values. The final
statement is ``MetricCompiler``'s with the per-unit step reading unit values instead of events:
caps, maturity, segments, day buckets and the sums are the compiler's own.

Pure SQL building (sqlglot, bound parameters); ``metrics.incremental`` runs the statements.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlglot import exp

from metrics.engine.compiler import MetricCompiler, _MetricColumns
from metrics.engine.definition import EventFilter, MetricDefinition
from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import APP_EVENTS, EventTable
from metrics.engine.json_access import JsonAccess
from metrics.engine.populations import Population
from metrics.engine.sql import CompilerError, Params, and_, case, col, num
from metrics.engine.time_units import DAY_US

# Bump when the meaning of stored rows changes: every scope is then rebuilt.
FORMAT_VERSION = 1

SCOPE_TABLE = "metrics_partial_scope"
DAY_TABLE = "metrics_partial_day"
UNIT_TABLE = "metrics_partial_unit"
VALUE_TABLE = "metrics_partial_value"
DIRTY_TABLE = "metrics_partial_dirty"

DAY_COLUMNS = (
    "scope_id",
    "part",
    "unit_id",
    "rel_day",
    "slice_day",
    "cnt",
    "total",
    "nvals",
    "min_rel_us",
)
VALUE_COLUMNS = ("scope_id", "unit_id", "metric", "x", "y", "c")
UNIT_COLUMNS = ("scope_id", "unit_id", "start_us")
DIRTY_COLUMNS = ("scope_id", "unit_id", "start_us", "rebuild")

# Whose events a statement reads: the stored units, the new ones (marked ``rebuild``), or the
# population's (to count what a statement over the events reads).
UnitSet = Literal["stored", "new", "population"]

POPULATION_MISMATCH = (
    "Statistics from partials need the population they were built for (segments and day "
    "buckets may differ)."
)


# --- what is stored ------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """Events of one name (any name if empty) passing ``filters``; ``property_name`` is summed."""

    event: str
    filters: tuple[EventFilter, ...] = ()
    property_name: str = ""


@dataclass(frozen=True)
class MetricParts:
    """The parts a metric reads: its numerator, and a ratio's denominator."""

    numerator: int
    denominator: int | None = None


@dataclass(frozen=True)
class PartialLayout:
    """Which parts are stored for a set of metrics, and over which days after the start.

    ``first_day`` is the earliest ``rel_day`` kept (CUPED's pre-period, or 0) and ``end_day``
    one past the last (the longest window): events outside never count, so none is kept.
    """

    parts: tuple[Part, ...]
    metrics: tuple[MetricParts, ...]
    first_day: int
    end_day: int


def _numerator_part(m: MetricDefinition) -> tuple[str, tuple[EventFilter, ...], str]:
    prop = m.property_name if m.type in ("sum", "mean", "ratio") else ""
    return m.event, m.filters, prop


def partial_layout(metrics: Sequence[MetricDefinition], covariate_days: int = 0) -> PartialLayout:
    """Return the parts ``metrics`` need; a count reuses any part of the same events."""
    wanted: list[tuple[tuple[str, tuple[EventFilter, ...], str], ...]] = []
    for m in metrics:
        needs = [_numerator_part(m)]
        if m.is_ratio:
            needs.append((m.denominator_event, m.denominator_filters, m.denominator_property))
        wanted.append(tuple(needs))
    parts: list[Part] = []
    # Parts with a property first: a count of the same events then reads their ``cnt``.
    for needs in wanted:
        for event, filters, prop in needs:
            part = Part(event, filters, prop)
            if prop and part not in parts:
                parts.append(part)

    def index(event: str, filters: tuple[EventFilter, ...], prop: str) -> int:
        for i, p in enumerate(parts):
            if p.event == event and p.filters == filters and (p.property_name == prop or not prop):
                return i
        parts.append(Part(event, filters, prop))
        return len(parts) - 1

    mapped = []
    for needs in wanted:
        positions = [index(*need) for need in needs]
        mapped.append(MetricParts(*positions))
    first_day = min(
        [0, *(m.window_bounds_days[0] for m in metrics), -covariate_days if covariate_days else 0]
    )
    end_day = max(m.window_bounds_days[1] for m in metrics) if metrics else 0
    return PartialLayout(
        parts=tuple(parts), metrics=tuple(mapped), first_day=first_day, end_day=end_day
    )


def base_population(population: Population) -> Population:
    """The population without segments and day buckets: who the units are and when they
    start, which is all the stored partials depend on."""
    return replace(population, segment_property="", bucket_us=0)


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:32]


def day_fingerprint(
    *,
    layout: PartialLayout,
    population: Population,
    events: EventTable,
    unit_property: str,
    workspace_id: int,
) -> str:
    """What the day rows depend on: when it changes, they are rebuilt from the events."""
    return _digest(
        (
            FORMAT_VERSION,
            workspace_id,
            layout.parts,
            layout.first_day,
            layout.end_day,
            base_population(population),
            events,
            unit_property,
        )
    )


def value_fingerprint(
    *, layout: PartialLayout, metrics: Sequence[MetricDefinition], covariate_days: int
) -> str:
    """What the unit values depend on beyond the day rows: when it changes (a window, a
    minimum count, the pre-period), every unit's values are recomputed from the day rows.
    Caps, keys and names are applied later and change nothing stored."""
    shapes = tuple(
        (
            m.type,
            m.window_bounds_days,
            m.min_count,
            m.min_distinct_days,
            bool(m.property_name),
            bool(m.denominator_property),
            _has_covariate(m, covariate_days),
        )
        for m in metrics
    )
    return _digest((FORMAT_VERSION, layout.metrics, shapes, covariate_days))


def _has_covariate(m: MetricDefinition, covariate_days: int) -> bool:
    return covariate_days > 0 and m.type not in ("time_to_event", "ratio")


@dataclass(frozen=True)
class Statement:
    """One statement ready to run."""

    sql: str
    params: dict[str, Any]


# --- the statements ------------------------------------------------------------------------
class PartialStatements(MetricCompiler):
    """Statements of one scope's refresh, and its final statistics statement.

    ``population`` is the population the partials are built for; ``statistics()`` takes the
    one to report on, which may add segments and day buckets to it.
    """

    def __init__(
        self,
        *,
        dialect: str,
        workspace_id: int,
        scope_id: int,
        metrics: Sequence[MetricDefinition],
        population: Population,
        cutoff_us: int,
        covariate_days: int = 0,
        events: EventTable = APP_EVENTS,
    ) -> None:
        super().__init__(
            dialect=dialect,
            workspace_id=workspace_id,
            metrics=metrics,
            population=base_population(population),
            cutoff_us=cutoff_us,
            covariate_days=covariate_days,
            events=events,
        )
        self.scope_id = scope_id
        self.layout = partial_layout(self.metrics, covariate_days)

    # --- helpers ------------------------------------------------------------------------------
    def _fresh(self) -> None:
        """Start a statement: its own bound parameters."""
        self.params = Params()
        self.json = JsonAccess(self.dialect, self.params, typed=self._typed_properties())

    def _render(self, tree: exp.Expr) -> Statement:
        return Statement(
            sql=get_dialect(self.dialect).render(tree, self.params.values),
            params=dict(self.params.values),
        )

    def _scope(self, alias: str | None = None) -> exp.Expr:
        return exp.EQ(this=col("scope_id", alias), expression=self.params.bind(self.scope_id))

    def _int_div(self, left: exp.Expr, right: exp.Expr) -> exp.Expr:
        return exp.Div(this=left, expression=right, typed=True)

    def _floor_days(self, micros: exp.Expr) -> exp.Expr:
        """floor(micros / day) for any sign: integer division of non-negative numbers only,
        which every engine does alike."""
        day = num(DAY_US)
        negative = exp.Sub(
            this=exp.Neg(
                this=exp.paren(
                    self._int_div(
                        exp.paren(exp.Sub(this=exp.Neg(this=exp.paren(micros)), expression=num(1))),
                        day,
                    )
                )
            ),
            expression=num(1),
        )
        return case(
            exp.GTE(this=micros.copy(), expression=num(0)),
            self._int_div(exp.paren(micros.copy()), day.copy()),
            negative,
        )

    def _unit_in(self, table: str) -> exp.Expr:
        """``unit_id IN (the dirty units of this scope)``."""
        dirty = exp.select(col("unit_id", "dq")).from_(exp.to_table(DIRTY_TABLE).as_("dq"))
        return exp.In(
            this=col("unit_id", table),
            query=exp.Subquery(this=dirty.where(self._scope("dq"))),
        )

    def _events_used(self) -> list[str] | None:
        names = {p.event for p in self.layout.parts}
        return None if "" in names else sorted(names)

    @staticmethod
    def _insert(table: str, columns: Sequence[str], select: exp.Expr) -> exp.Expr:
        return exp.insert(select, table, columns=list(columns))

    # --- state changes ------------------------------------------------------------------------
    def clear(self, table: str) -> Statement:
        """Delete every row of the scope in ``table``."""
        self._fresh()
        return self._render(exp.delete(table, where=self._scope()))

    def mark_stale_units(self) -> Statement:
        """Mark units whose stored start no longer matches the population (a late, earlier
        exposure), or that left it: their rows are deleted and, if still there, rebuilt."""
        self._fresh()
        pop = exp.Subquery(this=self._population(), alias=exp.TableAlias(this="pop"))
        select = (
            exp.select(
                self.params.bind(self.scope_id),
                col("unit_id", "pu"),
                col("start_us", "pu"),
                exp.false(),
            )
            .from_(exp.to_table(UNIT_TABLE).as_("pu"))
            .join(
                pop,
                on=and_(
                    exp.EQ(this=col("unit_id", "pop"), expression=col("unit_id", "pu")),
                    exp.EQ(this=col("start_us", "pop"), expression=col("start_us", "pu")),
                ),
                join_type="left",
            )
            .where(
                and_(self._scope("pu"), exp.Is(this=col("unit_id", "pop"), expression=exp.null()))
            )
        )
        return self._render(self._insert(DIRTY_TABLE, DIRTY_COLUMNS, select))

    def delete_dirty_units(self, table: str) -> Statement:
        """Delete the rows of the marked units in ``table``."""
        self._fresh()
        return self._render(exp.delete(table, where=and_(self._scope(), self._unit_in(table))))

    def mark_units_since(self, since_day: int) -> Statement:
        """Mark units with day rows in slices from ``since_day`` on: their values change."""
        self._fresh()
        select = (
            exp.select(
                self.params.bind(self.scope_id),
                col("unit_id", "d"),
                exp.cast(exp.null(), "BIGINT"),
                exp.false(),
            )
            .distinct()
            .from_(exp.to_table(DAY_TABLE).as_("d"))
            .where(
                and_(
                    self._scope("d"),
                    exp.GTE(this=col("slice_day", "d"), expression=self.params.bind(since_day)),
                )
            )
        )
        return self._render(self._insert(DIRTY_TABLE, DIRTY_COLUMNS, select))

    def delete_slices_since(self, since_day: int) -> Statement:
        self._fresh()
        return self._render(
            exp.delete(
                DAY_TABLE,
                where=and_(
                    self._scope(),
                    exp.GTE(this=col("slice_day"), expression=self.params.bind(since_day)),
                ),
            )
        )

    def mark_new_units(self) -> Statement:
        """Mark units of the population not stored yet (with their start): built in full."""
        self._fresh()
        pop = exp.Subquery(this=self._population(), alias=exp.TableAlias(this="pop"))
        select = (
            exp.select(
                self.params.bind(self.scope_id),
                col("unit_id", "pop"),
                col("start_us", "pop"),
                exp.true(),
            )
            .from_(pop)
            .join(
                exp.to_table(UNIT_TABLE).as_("pu"),
                on=and_(
                    self._scope("pu"),
                    exp.EQ(this=col("unit_id", "pu"), expression=col("unit_id", "pop")),
                ),
                join_type="left",
            )
            .where(exp.Is(this=col("unit_id", "pu"), expression=exp.null()))
        )
        return self._render(self._insert(DIRTY_TABLE, DIRTY_COLUMNS, select))

    def register_new_units(self) -> Statement:
        self._fresh()
        select = (
            exp.select(self.params.bind(self.scope_id), col("unit_id", "dq"), col("start_us", "dq"))
            .from_(exp.to_table(DIRTY_TABLE).as_("dq"))
            .where(
                and_(self._scope("dq"), exp.EQ(this=col("rebuild", "dq"), expression=exp.true()))
            )
        )
        return self._render(self._insert(UNIT_TABLE, UNIT_COLUMNS, select))

    def mark_all_units(self) -> Statement:
        """Mark every stored unit (the value definitions changed, the day rows did not)."""
        self._fresh()
        select = (
            exp.select(
                self.params.bind(self.scope_id),
                col("unit_id", "pu"),
                col("start_us", "pu"),
                exp.false(),
            )
            .from_(exp.to_table(UNIT_TABLE).as_("pu"))
            .where(self._scope("pu"))
        )
        return self._render(self._insert(DIRTY_TABLE, DIRTY_COLUMNS, select))

    # --- day rows from events -----------------------------------------------------------------
    def _units(self, units: UnitSet) -> exp.Expr:
        """The units a statement reads events of, with their start: ``un(unit_id, start_us)``."""
        if units == "population":
            return exp.Subquery(this=self._population(), alias=exp.TableAlias(this="un"))
        table = DIRTY_TABLE if units == "new" else UNIT_TABLE
        conditions = [self._scope("u")]
        if units == "new":
            conditions.append(exp.EQ(this=col("rebuild", "u"), expression=exp.true()))
        return exp.Subquery(
            this=exp.select(col("unit_id", "u"), col("start_us", "u"))
            .from_(exp.to_table(table).as_("u"))
            .where(and_(*conditions)),
            alias=exp.TableAlias(this="un"),
        )

    def _joined_events(self, *, units: UnitSet, since_us: int | None) -> exp.Select:
        """Events of ``units`` in their range (from ``since_us`` on, if given), each with its
        unit, ``rel_us``, ``rel_day`` and ``slice_day``."""
        t = col("timestamp_us", "src")
        start = col("start_us", "un")
        rel_us = exp.Sub(this=t.copy(), expression=start.copy())
        on: list[exp.Expr] = [
            exp.EQ(this=col("unit_id", "src"), expression=col("unit_id", "un")),
            exp.GTE(
                this=t.copy(),
                expression=exp.Add(
                    this=start.copy(), expression=self.params.bind(self.layout.first_day * DAY_US)
                ),
            ),
            exp.LT(
                this=t.copy(),
                expression=exp.Add(
                    this=start.copy(), expression=self.params.bind(self.layout.end_day * DAY_US)
                ),
            ),
            exp.LT(this=t.copy(), expression=self.params.bind(self.cutoff_us)),
        ]
        if since_us is not None:
            on.append(exp.GTE(this=t.copy(), expression=self.params.bind(since_us)))
        names = self._events_used()
        if names is not None:
            on.append(
                exp.In(this=col("event", "src"), expressions=[self.params.bind(n) for n in names])
            )
        typed = [f"tp_{i}" for i in range(len(self.events.property_columns))]
        return (
            exp.select(
                col("unit_id", "un"),
                col("event", "src"),
                col("properties", "src"),
                *(col(name, "src") for name in typed),
                exp.alias_(t.copy(), "timestamp_us"),
                exp.alias_(rel_us, "rel_us"),
                exp.alias_(self._floor_days(rel_us.copy()), "rel_day"),
                exp.alias_(self._int_div(t.copy(), num(DAY_US)), "slice_day"),
            )
            .from_(self._units(units))
            .join(self._source().subquery("src"), on=and_(*on))
        )

    def count_read_rows(self, *, units: UnitSet, since_us: int | None = None) -> Statement:
        """How many event rows ``build_days`` with the same arguments reads (``population``:
        what the statement over the events reads): rows scanned, for engines that do not
        report them."""
        self._fresh()
        joined = self._joined_events(units=units, since_us=since_us)
        return self._render(exp.select(exp.Count(this=exp.Star())).from_(joined.subquery("e")))

    def build_days(self, *, units: UnitSet, since_us: int | None = None) -> Statement:
        """Aggregate events into day rows: of the ``stored`` units from ``since_us`` on, or of
        the ``new`` ones (marked ``rebuild``) over their whole range."""
        self._fresh()
        joined = self._joined_events(units=units, since_us=since_us)
        aggregates: list[exp.Expr] = []
        for k, part in enumerate(self.layout.parts):
            hit = self._matches(part.event, part.filters)
            aggregates.append(exp.alias_(exp.Sum(this=case(hit, num(1), num(0))), f"c{k}"))
            if part.property_name:
                number = self.json.number(col("properties", "e"), part.property_name)
                aggregates.append(
                    exp.alias_(
                        exp.Sum(
                            this=case(
                                hit.copy(),
                                exp.Coalesce(this=number, expressions=[num(0)]),
                                num(0),
                            )
                        ),
                        f"t{k}",
                    )
                )
                aggregates.append(
                    exp.alias_(
                        exp.Sum(
                            this=case(
                                and_(
                                    hit.copy(),
                                    exp.Not(this=exp.Is(this=number.copy(), expression=exp.null())),
                                ),
                                num(1),
                                num(0),
                            )
                        ),
                        f"n{k}",
                    )
                )
            aggregates.append(
                exp.alias_(exp.Min(this=case(hit.copy(), col("rel_us", "e"))), f"r{k}")
            )
        keys = [col("unit_id", "e"), col("rel_day", "e"), col("slice_day", "e")]
        wide = (
            exp.select(*keys, *aggregates)
            .from_(joined.subquery("e"))
            .group_by(*(k.copy() for k in keys))
        )
        return self._render(self._insert(DAY_TABLE, DAY_COLUMNS, self._unpivot_days(wide)))

    def _pick(self, values: Sequence[exp.Expr]) -> exp.Expr:
        """``CASE k.n WHEN 0 THEN values[0] ... END``: one row per part (or metric)."""
        built = exp.Case(this=col("n", "k"))
        for i, value in enumerate(values):
            built = built.when(num(i), value)
        return built

    def _numbers(self, count: int) -> exp.Expr:
        """The numbers 0 .. count-1 as a one-column table ``k(n)``."""
        selects = [exp.select(exp.alias_(num(i), "n")) for i in range(count)]
        union: exp.Expr = selects[0]
        for s in selects[1:]:
            union = exp.union(union, s, distinct=False)
        return exp.Subquery(this=union, alias=exp.TableAlias(this="k"))

    def _unpivot_days(self, wide: exp.Select) -> exp.Select:
        parts = self.layout.parts
        cnt = self._pick([col(f"c{k}", "w") for k in range(len(parts))])
        total = self._pick(
            [
                exp.cast(col(f"t{k}", "w"), "DOUBLE")
                if p.property_name
                else exp.cast(num(0), "DOUBLE")
                for k, p in enumerate(parts)
            ],
        )
        nvals = self._pick(
            [col(f"n{k}", "w") if p.property_name else num(0) for k, p in enumerate(parts)]
        )
        min_rel = self._pick([col(f"r{k}", "w") for k in range(len(parts))])
        return (
            exp.select(
                self.params.bind(self.scope_id),
                col("n", "k"),
                col("unit_id", "w"),
                col("rel_day", "w"),
                col("slice_day", "w"),
                exp.alias_(cnt, "cnt"),
                exp.alias_(total, "total"),
                exp.alias_(nvals, "nvals"),
                exp.alias_(min_rel, "min_rel_us"),
            )
            .from_(wide.subquery("w"))
            .join(self._numbers(len(parts)), join_type="cross")
            .where(exp.GT(this=cnt.copy(), expression=num(0)))
        )

    # --- unit values from day rows ------------------------------------------------------------
    def _days_in(self, part: int, lo: int, hi: int) -> exp.Expr:
        return and_(
            exp.EQ(this=col("part", "d"), expression=num(part)),
            exp.GTE(this=col("rel_day", "d"), expression=self.params.bind(lo)),
            exp.LT(this=col("rel_day", "d"), expression=self.params.bind(hi)),
        )

    def _sum_in(self, column: str, where: exp.Expr) -> exp.Expr:
        return exp.Sum(this=case(where, col(column, "d"), num(0)))

    def _value_from_days(
        self, m: MetricDefinition, part: int, lo: int, hi: int, *, as_covariate: bool = False
    ) -> exp.Expr:
        """The unit's value of ``m`` over days [lo, hi), from its day rows (as the compiler's
        ``_value_in`` from events)."""
        inside = self._days_in(part, lo, hi)
        count = self._sum_in("cnt", inside)
        if m.type in ("conversion", "retention"):
            return case(exp.GT(this=count, expression=num(0)), num(1), num(0))
        if m.type == "count" or (m.type == "moment" and as_covariate):
            return count
        if m.type == "moment":
            days = exp.Count(
                this=exp.Distinct(expressions=[case(inside.copy(), col("rel_day", "d"))])
            )
            return case(
                and_(
                    exp.GTE(this=count, expression=self.params.bind(m.min_count)),
                    exp.GTE(this=days, expression=self.params.bind(m.min_distinct_days)),
                ),
                num(1),
                num(0),
            )
        if m.type == "time_to_event":
            return exp.Min(this=case(inside, col("min_rel_us", "d")))
        if m.type == "mean":
            total = exp.Sum(this=case(inside, col("total", "d")))
            values = exp.Sum(this=case(inside.copy(), col("nvals", "d")))
            mean = exp.Div(
                this=exp.cast(total, "DOUBLE"),
                expression=exp.Nullif(this=values, expression=num(0)),
            )
            return exp.Coalesce(this=mean, expressions=[num(0)]) if as_covariate else mean
        if m.property_name:  # sum, and a ratio's numerator with a property
            return self._sum_in("total", inside)
        return count  # a ratio's numerator counted

    def _denominator_from_days(self, m: MetricDefinition, part: int) -> exp.Expr:
        lo, hi = m.window_bounds_days
        inside = self._days_in(part, lo, hi)
        return self._sum_in("total" if m.denominator_property else "cnt", inside)

    def build_values(self) -> Statement:
        """Recompute the marked units' values from their day rows (one row per metric)."""
        self._fresh()
        x, y, c = [], [], []
        for i, (m, parts) in enumerate(zip(self.metrics, self.layout.metrics, strict=True)):
            lo, hi = m.window_bounds_days
            x.append(exp.alias_(self._value_from_days(m, parts.numerator, lo, hi), f"x{i}"))
            if parts.denominator is not None:
                y.append(exp.alias_(self._denominator_from_days(m, parts.denominator), f"y{i}"))
            if _has_covariate(m, self.covariate_days):
                pre = self._value_from_days(
                    m, parts.numerator, -self.covariate_days, 0, as_covariate=True
                )
                c.append(exp.alias_(pre, f"c{i}"))
        wide = (
            exp.select(col("unit_id", "d"), *x, *y, *c)
            .from_(exp.to_table(DAY_TABLE).as_("d"))
            .where(and_(self._scope("d"), self._unit_in("d")))
            .group_by(col("unit_id", "d"))
        )
        names = {a.alias for a in (*x, *y, *c)}

        def column(name: str) -> exp.Expr:
            # A typed NULL: a CASE of NULLs alone would be text on PostgreSQL.
            return exp.cast(col(name, "w") if name in names else exp.null(), "DOUBLE")

        count = len(self.metrics)
        select = (
            exp.select(
                self.params.bind(self.scope_id),
                col("unit_id", "w"),
                col("n", "k"),
                self._pick([column(f"x{i}") for i in range(count)]),
                self._pick([column(f"y{i}") for i in range(count)]),
                self._pick([column(f"c{i}") for i in range(count)]),
            )
            .from_(wide.subquery("w"))
            .join(self._numbers(count), join_type="cross")
        )
        return self._render(self._insert(VALUE_TABLE, VALUE_COLUMNS, select))

    # --- reads --------------------------------------------------------------------------------
    def count_new_units(self) -> Statement:
        self._fresh()
        select = (
            exp.select(exp.Count(this=exp.Star()))
            .from_(exp.to_table(DIRTY_TABLE).as_("dq"))
            .where(
                and_(self._scope("dq"), exp.EQ(this=col("rebuild", "dq"), expression=exp.true()))
            )
        )
        return self._render(select)

    # --- the statistics ----------------------------------------------------------------------
    def statistics(self, population: Population) -> Any:
        """Return the compiled statistics statement for ``population`` (the built population,
        perhaps with segments and day buckets), reading unit values instead of events."""
        if base_population(population) != self.population:
            raise CompilerError(POPULATION_MISMATCH)
        reader = _ValueReader(self, population)
        return reader.compile()


class _ValueReader(MetricCompiler):
    """The compiler with its per-unit step reading stored unit values."""

    def __init__(self, statements: PartialStatements, population: Population) -> None:
        super().__init__(
            dialect=statements.dialect,
            workspace_id=statements.workspace_id,
            metrics=statements.metrics,
            population=population,
            cutoff_us=statements.cutoff_us,
            covariate_days=statements.covariate_days,
            events=statements.events,
        )
        self.scope_id = statements.scope_id

    def _per_unit(self) -> tuple[exp.Select, list[_MetricColumns]]:
        varying = self._varying()
        columns: list[exp.Expr] = [
            col("unit_id", "pop"),
            col("start_us", "pop"),
            *(col(name, "pop") for name in varying),
        ]
        named: list[_MetricColumns] = []

        def pivot(i: int, stored: str, default: exp.Expr | None) -> exp.Expr:
            picked = exp.Max(
                this=case(exp.EQ(this=col("metric", "v"), expression=num(i)), col(stored, "v"))
            )
            return picked if default is None else exp.Coalesce(this=picked, expressions=[default])

        for i, m in enumerate(self.metrics):
            names = _MetricColumns(
                value=f"m{i}_x",
                denominator=f"m{i}_y" if m.is_ratio else None,
                covariate=f"m{i}_c" if self._has_covariate(m) else None,
            )
            # A unit without stored values had no events: what the compiler gives it then.
            empty = None if m.type in ("mean", "time_to_event") else num(0)
            columns.append(exp.alias_(pivot(i, "x", empty), names.value))
            if names.denominator:
                columns.append(exp.alias_(pivot(i, "y", num(0)), names.denominator))
            if names.covariate:
                columns.append(exp.alias_(pivot(i, "c", num(0)), names.covariate))
            named.append(names)
        select = (
            exp.select(*columns)
            .from_(exp.to_table("population").as_("pop"))
            .join(
                exp.to_table(VALUE_TABLE).as_("v"),
                on=and_(
                    exp.EQ(this=col("scope_id", "v"), expression=self.params.bind(self.scope_id)),
                    exp.EQ(this=col("unit_id", "v"), expression=col("unit_id", "pop")),
                ),
                join_type="left",
            )
            .group_by(
                col("unit_id", "pop"),
                col("start_us", "pop"),
                *(col(name, "pop") for name in varying),
            )
        )
        return select, named
