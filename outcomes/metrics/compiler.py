"""The metric compiler: metric definitions × a population → one SQL statement.

The statement computes every unit's value for every metric in one pass over the events, then
returns only sufficient statistics per group (n, Σx, Σx², and Σy, Σy², Σxy for ratios, the
pre-period covariate's sums for CUPED). It is built as a sqlglot tree and rendered per dialect;
every value that comes from a user (event names, property names and values, ids, windows) is a
bound parameter. Nothing here touches Django: ``outcomes.metrics.runner`` executes the result.

Time is integer microseconds since the epoch, and windows are relative to each unit's start,
so window edges are exact and time zones or daylight-saving changes cannot move them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from outcomes.metrics.definition import EventFilter, MetricDefinition

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
SUPPORTED_DIALECTS = ("sqlite", "postgres")

# Physical names of the event store (plg_platform's Event and Person tables).
EVENTS_TABLE = "plg_platform_event"
PERSONS_TABLE = "plg_platform_person"

MIXED_UNITS = "All metrics of one statement must share the unit of analysis."
NO_METRICS = "Give at least one metric."


class CompilerError(ValueError):
    """The compiler was asked for something it cannot build."""


@dataclass(frozen=True)
class TablePopulation:
    """Units listed in a table of ours: one row per unit with its start time and group.

    Used for experiments (the exposures table: unit, first exposure, variant). ``filters`` are
    ``column = value`` conditions; ``exclude_column`` names a boolean column whose true rows are
    left out (units exposed to two variants).
    """

    table: str
    unit_column: str
    start_column: str
    group_column: str
    filters: tuple[tuple[str, Any], ...] = ()
    exclude_column: str = ""
    segment_property: str = ""


@dataclass(frozen=True)
class FirstSeenPopulation:
    """Units that first did ``event`` (any event if empty) in [starts_from_us, starts_before_us).

    The group is the start's bucket of ``bucket_us`` microseconds (for cohort series; the caller
    maps buckets to local calendar days) or one group ``"all"`` when ``bucket_us`` is 0.
    """

    event: str = ""
    starts_from_us: int | None = None
    starts_before_us: int | None = None
    bucket_us: int = 0
    segment_property: str = ""


Population = TablePopulation | FirstSeenPopulation


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]
    metric_keys: tuple[str, ...]


@dataclass
class _Params:
    """Collects bound parameters; each ``bind`` gives a named placeholder."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> exp.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return exp.Placeholder(this=name)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _num(value: int | float) -> exp.Literal:
    return exp.Literal.number(value)


def _case(condition: exp.Expression, then: exp.Expression, default: exp.Expression | None = None):
    case = exp.Case().when(condition, then)
    return case.else_(default) if default is not None else case


def _and(*conditions: exp.Expression | None) -> exp.Expression:
    present = [c for c in conditions if c is not None]
    return exp.and_(*present) if present else exp.true()


class _Json:
    """Dialect-specific access to a JSON property column (the only per-dialect SQL we write)."""

    def __init__(self, dialect: str, params: _Params) -> None:
        self.dialect = dialect
        self.params = params

    def _path(self, key: str) -> exp.Expression:
        """Return the SQLite JSON path ``$."key"`` with the key bound as a parameter."""
        return exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string('$."'), expression=self.params.bind(key)),
            expression=exp.Literal.string('"'),
        )

    def text(self, column: exp.Expression, key: str) -> exp.Expression:
        """Return the property as text (strings), number (SQLite) or NULL when absent."""
        return exp.JSONExtractScalar(this=column, expression=self.params.bind(key))

    def number(self, column: exp.Expression, key: str) -> exp.Expression:
        """Return the property as a float when it is a JSON number, else NULL (never an error)."""
        if self.dialect == "postgres":
            k = self.params.bind(key)
            kind = exp.Anonymous(
                this="jsonb_typeof", expressions=[exp.JSONExtract(this=column, expression=k)]
            )
            is_number = exp.EQ(this=kind, expression=exp.Literal.string("number"))
            value = exp.JSONExtractScalar(this=column.copy(), expression=k.copy())
            return _case(is_number, exp.cast(value, "DOUBLE"))
        path = self._path(key)
        kind = exp.Anonymous(this="json_type", expressions=[column, path])
        is_number = exp.In(
            this=kind, expressions=[exp.Literal.string("integer"), exp.Literal.string("real")]
        )
        value = exp.Anonymous(this="json_extract", expressions=[column.copy(), path.copy()])
        return _case(is_number, exp.cast(value, "DOUBLE"))

    def is_set(self, column: exp.Expression, key: str) -> exp.Expression:
        """Return whether the property is present (JSON null counts as present)."""
        if self.dialect == "postgres":
            value = exp.JSONExtract(this=column, expression=self.params.bind(key))
        else:
            value = exp.Anonymous(this="json_type", expressions=[column, self._path(key)])
        return exp.Not(this=exp.Is(this=exp.paren(value), expression=exp.null()))

    def _type_in(self, column: exp.Expression, key: str, pg: str, lite: tuple[str, ...]):
        """Return whether the property's JSON type is ``pg`` (PostgreSQL) / one of ``lite``."""
        if self.dialect == "postgres":
            kind = exp.Anonymous(
                this="jsonb_typeof",
                expressions=[exp.JSONExtract(this=column, expression=self.params.bind(key))],
            )
            return exp.EQ(this=kind, expression=exp.Literal.string(pg))
        kind = exp.Anonymous(this="json_type", expressions=[column, self._path(key)])
        return exp.In(this=kind, expressions=[exp.Literal.string(t) for t in lite])

    def equals(self, column: exp.Expression, key: str, value: Any) -> exp.Expression:
        """Compare with JSON semantics: a string never equals a number, nor a number a boolean."""
        if isinstance(value, bool):
            if self.dialect == "postgres":
                return _and(
                    self._type_in(column, key, "boolean", ()),
                    exp.EQ(
                        this=self.text(column.copy(), key),
                        expression=self.params.bind(str(value).lower()),
                    ),
                )
            return self._type_in(column, key, "", ("true",) if value else ("false",))
        if isinstance(value, int | float):
            return exp.EQ(this=self.number(column, key), expression=self.params.bind(value))
        return _and(
            self._type_in(column, key, "string", ("text",)),
            exp.EQ(this=self.text(column.copy(), key), expression=self.params.bind(value)),
        )


@dataclass(frozen=True)
class _MetricColumns:
    """Per-unit expressions of one metric, named in the per-unit CTE."""

    value: str
    denominator: str | None = None
    covariate: str | None = None


class MetricCompiler:
    """Build the statement for ``metrics`` over ``population`` in workspace ``workspace_id``."""

    def __init__(
        self,
        *,
        dialect: str,
        workspace_id: int,
        metrics: Sequence[MetricDefinition],
        population: Population,
        cutoff_us: int,
        covariate_days: int = 0,
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
        self.params = _Params()
        self.json = _Json(dialect, self.params)

    # --- the event source: events with the unit they belong to ------------------------------
    def _source(self) -> exp.Select:
        """Events of the workspace with a ``unit_id`` (the account through persons, if asked)."""
        ws = self.params.bind(self.workspace_id)
        if not self.unit_property:
            unit = _col("distinct_id", "ev")
            select = exp.select(
                _col("event", "ev"),
                _col("timestamp_us", "ev"),
                _col("properties", "ev"),
                exp.alias_(unit, "unit_id"),
            ).from_(exp.to_table(EVENTS_TABLE).as_("ev"))
            return select.where(exp.EQ(this=_col("workspace_id", "ev"), expression=ws))
        account = self.json.text(_col("properties", "pp"), self.unit_property)
        return (
            exp.select(
                _col("event", "ev"),
                _col("timestamp_us", "ev"),
                _col("properties", "ev"),
                exp.alias_(exp.cast(account, "TEXT"), "unit_id"),
            )
            .from_(exp.to_table(EVENTS_TABLE).as_("ev"))
            .join(
                exp.to_table(PERSONS_TABLE).as_("pp"),
                on=_and(
                    exp.EQ(this=_col("workspace_id", "pp"), expression=_col("workspace_id", "ev")),
                    exp.EQ(this=_col("distinct_id", "pp"), expression=_col("distinct_id", "ev")),
                ),
            )
            .where(
                _and(
                    exp.EQ(this=_col("workspace_id", "ev"), expression=ws),
                    exp.Not(this=exp.Is(this=account, expression=exp.null())),
                )
            )
        )

    # --- the population: unit, start_us, grp, seg --------------------------------------------
    def _segment_of(self, unit: exp.Expression) -> exp.Expression:
        """Return the segment value of ``unit`` from its person properties ('(none)' if unset)."""
        prop = self.population.segment_property
        if not prop:
            return exp.Literal.string("all")
        person = (
            exp.select(exp.cast(self.json.text(_col("properties", "sp"), prop), "TEXT"))
            .from_(exp.to_table(PERSONS_TABLE).as_("sp"))
            .where(
                _and(
                    exp.EQ(
                        this=_col("workspace_id", "sp"),
                        expression=self.params.bind(self.workspace_id),
                    ),
                    exp.EQ(this=_col("distinct_id", "sp"), expression=unit),
                )
            )
        )
        return exp.Coalesce(
            this=exp.Subquery(this=person), expressions=[exp.Literal.string("(none)")]
        )

    def _population(self) -> exp.Select:
        pop = self.population
        if isinstance(pop, TablePopulation):
            unit = _col(pop.unit_column, "pt")
            conditions = [
                exp.EQ(this=_col(column, "pt"), expression=self.params.bind(value))
                for column, value in pop.filters
            ]
            if pop.exclude_column:
                conditions.append(exp.Not(this=_col(pop.exclude_column, "pt")))
            return (
                exp.select(
                    exp.alias_(unit, "unit_id"),
                    exp.alias_(_col(pop.start_column, "pt"), "start_us"),
                    exp.alias_(exp.cast(_col(pop.group_column, "pt"), "TEXT"), "grp"),
                    exp.alias_(self._segment_of(unit), "seg"),
                )
                .from_(exp.to_table(pop.table).as_("pt"))
                .where(_and(*conditions))
            )
        first = (
            exp.select(
                _col("unit_id", "src"),
                exp.alias_(exp.Min(this=_col("timestamp_us", "src")), "start_us"),
            )
            .from_(self._source().subquery("src"))
            .where(
                exp.LT(
                    this=_col("timestamp_us", "src"), expression=self.params.bind(self.cutoff_us)
                )
            )
            .group_by(_col("unit_id", "src"))
        )
        if pop.event:
            first = first.where(  # .where() ANDs with the cut-off condition
                exp.EQ(this=_col("event", "src"), expression=self.params.bind(pop.event))
            )
        having = []
        if pop.starts_from_us is not None:
            having.append(
                exp.GTE(
                    this=exp.Min(this=_col("timestamp_us", "src")),
                    expression=self.params.bind(pop.starts_from_us),
                )
            )
        if pop.starts_before_us is not None:
            having.append(
                exp.LT(
                    this=exp.Min(this=_col("timestamp_us", "src")),
                    expression=self.params.bind(pop.starts_before_us),
                )
            )
        if having:
            first = first.having(_and(*having))
        unit = _col("unit_id", "fs")
        if pop.bucket_us:
            # Integer division of a non-negative integer: the same on every engine.
            group = exp.cast(
                exp.Div(
                    this=_col("start_us", "fs"),
                    expression=self.params.bind(pop.bucket_us),
                    typed=True,
                ),
                "TEXT",
            )
        else:
            group = exp.Literal.string("all")
        return exp.select(
            exp.alias_(unit, "unit_id"),
            _col("start_us", "fs"),
            exp.alias_(group, "grp"),
            exp.alias_(self._segment_of(unit), "seg"),
        ).from_(exp.Subquery(this=first, alias=exp.TableAlias(this="fs")))

    # --- per-unit values ---------------------------------------------------------------------
    def _t(self) -> exp.Expression:
        return _col("timestamp_us", "e")

    def _start(self) -> exp.Expression:
        return _col("start_us", "pop")

    def _offset(self, days: int) -> exp.Expression:
        """Return ``pop.start_us + days`` in microseconds (days may be negative)."""
        return exp.Add(this=self._start(), expression=self.params.bind(days * DAY_US))

    def _in_window(self, lo_days: int, hi_days: int) -> exp.Expression:
        return _and(
            exp.GTE(this=self._t(), expression=self._offset(lo_days)),
            exp.LT(this=self._t(), expression=self._offset(hi_days)),
        )

    def _filter(self, f: EventFilter) -> exp.Expression:
        props = _col("properties", "e")
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

    def _matches(self, event: str, filters: Sequence[EventFilter]) -> exp.Expression:
        conditions: list[exp.Expression] = []
        if event:
            conditions.append(exp.EQ(this=_col("event", "e"), expression=self.params.bind(event)))
        conditions.extend(self._filter(f) for f in filters)
        return _and(*conditions)

    def _value_in(
        self, m: MetricDefinition, lo: int, hi: int, *, as_covariate: bool = False
    ) -> exp.Expression:
        """The per-unit aggregate of ``m`` over days [lo, hi) after the start."""
        hit = _and(self._matches(m.event, m.filters), self._in_window(lo, hi))
        props = _col("properties", "e")
        if m.type in ("conversion", "retention"):
            return exp.Max(this=_case(hit, _num(1), _num(0)))
        if m.type == "count" or (m.type == "moment" and as_covariate):
            return exp.Sum(this=_case(hit, _num(1), _num(0)))
        if m.type == "moment":
            count_ok = exp.GTE(
                this=exp.Sum(this=_case(hit, _num(1), _num(0))),
                expression=self.params.bind(m.min_count),
            )
            day_index = exp.Div(
                this=exp.paren(exp.Sub(this=self._t(), expression=self._start())),
                expression=self.params.bind(DAY_US),
                typed=True,
            )
            days_ok = exp.GTE(
                this=exp.Count(this=exp.Distinct(expressions=[_case(hit, day_index)])),
                expression=self.params.bind(m.min_distinct_days),
            )
            return _case(_and(count_ok, days_ok), _num(1), _num(0))
        if m.type == "time_to_event":
            elapsed = exp.Sub(this=self._t(), expression=self._start())
            return exp.Min(this=_case(hit, elapsed))
        if m.type in ("sum", "mean") or (m.type == "ratio" and m.property_name):
            number = self.json.number(props, m.property_name)
            if m.type == "mean":
                return exp.Avg(this=_case(hit, number))
            return exp.Sum(
                this=_case(hit, exp.Coalesce(this=number, expressions=[_num(0)]), _num(0))
            )
        return exp.Sum(this=_case(hit, _num(1), _num(0)))  # ratio numerator counted

    def _denominator(self, m: MetricDefinition) -> exp.Expression:
        lo, hi = m.window_bounds_days
        hit = _and(
            self._matches(m.denominator_event, m.denominator_filters), self._in_window(lo, hi)
        )
        if m.denominator_property:
            number = self.json.number(_col("properties", "e"), m.denominator_property)
            return exp.Sum(
                this=_case(hit, exp.Coalesce(this=number, expressions=[_num(0)]), _num(0))
            )
        return exp.Sum(this=_case(hit, _num(1), _num(0)))

    def _per_unit(self) -> tuple[exp.Select, list[_MetricColumns]]:
        columns: list[exp.Expression] = [
            _col("unit_id", "pop"),
            _col("start_us", "pop"),
            *(_col(name, "pop") for name in self._varying()),
        ]
        named: list[_MetricColumns] = []
        for i, m in enumerate(self.metrics):
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
                    pre = exp.Coalesce(this=pre, expressions=[_num(0)])
                columns.append(exp.alias_(pre, names.covariate))
            named.append(names)
        lo_days = -self.covariate_days if self.covariate_days else 0
        hi_days = max(m.window_bounds_days[1] for m in self.metrics)
        join_on = [
            exp.EQ(this=_col("unit_id", "e"), expression=_col("unit_id", "pop")),
            exp.GTE(this=self._t(), expression=self._offset(min(lo_days, 0))),
            exp.LT(this=self._t(), expression=self._offset(hi_days)),
            exp.LT(this=self._t(), expression=self.params.bind(self.cutoff_us)),
        ]
        events = {m.event for m in self.metrics} | {
            m.denominator_event for m in self.metrics if m.is_ratio
        }
        if "" not in events:
            join_on.append(
                exp.In(
                    this=_col("event", "e"),
                    expressions=[self.params.bind(name) for name in sorted(events)],
                )
            )
        select = (
            exp.select(*columns)
            .from_(exp.to_table("population").as_("pop"))
            .join(self._source().subquery("e"), on=_and(*join_on), join_type="left")
            .group_by(
                _col("unit_id", "pop"),
                _col("start_us", "pop"),
                *(_col(name, "pop") for name in self._varying()),
            )
        )
        return select, named

    def _varying(self) -> tuple[str, ...]:
        """Return which of the population's ``grp`` and ``seg`` columns differ between units."""
        pop = self.population
        grouped = isinstance(pop, TablePopulation) or bool(pop.bucket_us)
        return tuple(
            name
            for name, varies in (("grp", grouped), ("seg", bool(pop.segment_property)))
            if varies
        )

    def _has_covariate(self, m: MetricDefinition) -> bool:
        return self.covariate_days > 0 and m.type not in ("time_to_event", "ratio")

    # --- capping ------------------------------------------------------------------------------
    def _mature(self, m: MetricDefinition, table: str = "pu") -> exp.Expression:
        return exp.LTE(
            this=exp.Add(
                this=_col("start_us", table), expression=self.params.bind(m.maturity_days * DAY_US)
            ),
            expression=self.params.bind(self.cutoff_us),
        )

    def _percentile_cap(self, m: MetricDefinition, column: str) -> exp.Expression:
        """The nearest-rank ``cap_value`` quantile of matured units' values, pooled over groups."""
        ranked = (
            exp.select(
                exp.alias_(_col(column, "r"), "v"),
                exp.alias_(
                    exp.Window(
                        this=exp.RowNumber(),
                        order=exp.Order(expressions=[exp.Ordered(this=_col(column, "r"))]),
                    ),
                    "rn",
                ),
                exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), "cnt"),
            )
            .from_(exp.to_table("per_unit").as_("r"))
            .where(
                _and(
                    self._mature(m, "r"),
                    exp.Not(this=exp.Is(this=_col(column, "r"), expression=exp.null())),
                )
            )
        )
        threshold = exp.Mul(
            this=self.params.bind(float(m.cap_value or 0)), expression=_col("cnt", "q")
        )
        pick = (
            exp.select(exp.Min(this=_col("v", "q")))
            .from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this="q")))
            .where(exp.GTE(this=_col("rn", "q"), expression=threshold))
        )
        return exp.Subquery(this=pick)

    def _capped(self, m: MetricDefinition, column: str) -> exp.Expression:
        value = _col(column, "pu")
        if m.cap_type == "none":
            return value
        cap = (
            self.params.bind(m.cap_value)
            if m.cap_type == "absolute"
            else self._percentile_cap(m, column)
        )
        return _case(exp.GT(this=value, expression=cap), cap.copy(), value)

    # --- the final aggregate -----------------------------------------------------------------
    def compile(self) -> CompiledQuery:
        per_unit, named = self._per_unit()
        # A group or segment that is the same for every unit is a literal, not a grouping key:
        # grouping by it would cost the database a sort of every per-unit row.
        varying = self._varying()
        outputs: list[exp.Expression] = [
            _col(name, "pu") if name in varying else exp.alias_(exp.Literal.string("all"), name)
            for name in ("grp", "seg")
        ]
        out_names = ["grp", "seg"]

        def add(name: str, expression: exp.Expression) -> None:
            outputs.append(exp.alias_(expression, name))
            out_names.append(name)

        for i, (m, cols) in enumerate(zip(self.metrics, named, strict=True)):
            mature = self._mature(m)
            x = self._capped(m, cols.value)
            has_value = _and(
                mature, exp.Not(this=exp.Is(this=_col(cols.value, "pu"), expression=exp.null()))
            )
            if m.type == "time_to_event":
                x = exp.Div(this=exp.cast(x, "DOUBLE"), expression=_num(float(HOUR_US)))
            x = exp.cast(x, "DOUBLE")
            add(f"m{i}_units", exp.Sum(this=_case(mature, _num(1), _num(0))))
            add(f"m{i}_immature", exp.Sum(this=_case(exp.Not(this=mature), _num(1), _num(0))))
            add(f"m{i}_n", exp.Sum(this=_case(has_value, _num(1), _num(0))))
            add(f"m{i}_sum", exp.Sum(this=_case(has_value, x)))
            add(
                f"m{i}_sum_squares",
                exp.Sum(this=_case(has_value, exp.Mul(this=x, expression=x.copy()))),
            )
            if cols.denominator:
                y = exp.cast(_col(cols.denominator, "pu"), "DOUBLE")
                add(f"m{i}_den_sum", exp.Sum(this=_case(has_value, y)))
                add(
                    f"m{i}_den_sum_squares",
                    exp.Sum(this=_case(has_value, exp.Mul(this=y, expression=y.copy()))),
                )
                add(
                    f"m{i}_sum_product",
                    exp.Sum(this=_case(has_value, exp.Mul(this=x.copy(), expression=y.copy()))),
                )
            if cols.covariate:
                c = exp.cast(_col(cols.covariate, "pu"), "DOUBLE")
                add(f"m{i}_cov_sum", exp.Sum(this=_case(has_value, c)))
                add(
                    f"m{i}_cov_sum_squares",
                    exp.Sum(this=_case(has_value, exp.Mul(this=c, expression=c.copy()))),
                )
                add(
                    f"m{i}_cov_sum_product",
                    exp.Sum(this=_case(has_value, exp.Mul(this=x.copy(), expression=c.copy()))),
                )

        query = (
            exp.select(*outputs)
            .from_(exp.to_table("per_unit").as_("pu"))
            .with_("population", as_=self._population())
            .with_("per_unit", as_=per_unit)
        )
        if varying:
            keys = [_col(name, "pu") for name in varying]
            query = query.group_by(*keys).order_by(*(k.copy() for k in keys))
        return CompiledQuery(
            sql=query.sql(dialect=self.dialect),
            params=dict(self.params.values),
            columns=tuple(out_names),
            metric_keys=tuple(m.key for m in self.metrics),
        )


def compile_metrics(
    *,
    dialect: str,
    workspace_id: int,
    metrics: Sequence[MetricDefinition],
    population: Population,
    cutoff_us: int,
    covariate_days: int = 0,
) -> CompiledQuery:
    """Return the one statement computing ``metrics`` over ``population``, for ``dialect``."""
    return MetricCompiler(
        dialect=dialect,
        workspace_id=workspace_id,
        metrics=metrics,
        population=population,
        cutoff_us=cutoff_us,
        covariate_days=covariate_days,
    ).compile()
