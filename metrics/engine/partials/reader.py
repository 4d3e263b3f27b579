"""The statistics statement over a scope's partials: ``MetricCompiler``'s statement with its
per-unit step reading each unit's stored components (settled days) and its recent day rows,
instead of its events. Caps, maturity, segments, day buckets and the sums are the compiler's.
"""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.compiler import CompiledQuery, MetricCompiler, _MetricColumns
from metrics.engine.definition import MetricDefinition
from metrics.engine.partials.layout import (
    DAY_TABLE,
    UNIT_TABLE,
    PartialLayout,
    base_population,
    position,
)
from metrics.engine.partials.statements import PartialStatements, combine, component
from metrics.engine.populations import Population
from metrics.engine.sql import CompilerError, and_, case, col, num

POPULATION_MISMATCH = (
    "Statistics from partials need the population they were built for (segments and day "
    "buckets may differ)."
)


def statistics_query(
    statements: PartialStatements, population: Population, frozen_day: int
) -> CompiledQuery:
    """The statement giving the statistics of ``population`` (the one the partials are built
    for, perhaps with segments and day buckets), from components settled before
    ``frozen_day`` plus the day rows since."""
    if base_population(population) != statements.population:
        raise CompilerError(POPULATION_MISMATCH)
    return _PartialsReader(statements, population, frozen_day).compile()


class _PartialsReader(MetricCompiler):
    # Each unit's values combine stored and recent components: compute them once per unit.
    materialize_per_unit = True

    def __init__(
        self, statements: PartialStatements, population: Population, frozen_day: int
    ) -> None:
        super().__init__(
            dialect=statements.dialect,
            workspace_id=statements.workspace_id,
            metrics=statements.metrics,
            population=population,
            cutoff_us=statements.cutoff_us,
            covariate_days=statements.covariate_days,
            events=statements.events,
        )
        self.statements = statements
        self.layout: PartialLayout = statements.layout
        self.frozen_day = frozen_day

    def _stored(self, alias: str, chunk: int, unit: exp.Expr) -> exp.Expr:
        return and_(
            exp.EQ(
                this=col("scope_id", alias), expression=self.params.bind(self.statements.scope_id)
            ),
            exp.EQ(this=col("unit_id", alias), expression=unit),
            exp.EQ(this=col("chunk", alias), expression=num(chunk)),
        )

    def _recent(self) -> exp.Select:
        """Per unit, every component over its day rows from ``frozen_day`` on ("days": after
        the stored last active day)."""
        components = self.layout.components
        lasts = sorted({c.last for c in components if c.last is not None})
        joins = sorted({position(i)[0] for i in lasts})
        stored = {i: col(position(i)[1], f"s{position(i)[0]}") for i in lasts}
        aggregates = [
            exp.alias_(
                component(c, "d", self.params, stored[c.last] if c.last is not None else None),
                f"a{i}",
            )
            for i, c in enumerate(components)
        ]
        select = exp.select(col("unit_id", "d"), *aggregates).from_(
            exp.to_table(DAY_TABLE).as_("d")
        )
        for chunk in joins:
            select = select.join(
                exp.to_table(UNIT_TABLE).as_(f"s{chunk}"),
                on=self._stored(f"s{chunk}", chunk, col("unit_id", "d")),
                join_type="left",
            )
        return select.where(
            and_(
                exp.EQ(
                    this=col("scope_id", "d"), expression=self.params.bind(self.statements.scope_id)
                ),
                exp.GTE(this=col("slice_day", "d"), expression=self.params.bind(self.frozen_day)),
            )
        ).group_by(col("unit_id", "d"), *(stored[i].copy() for i in lasts))

    def _combined(self, index: int) -> exp.Expr:
        chunk, column = position(index)
        c = self.layout.components[index]
        return combine(c.kind, col(column, f"u{chunk}"), col(f"a{index}", "r"))

    def _value(self, m: MetricDefinition, slots: tuple[int, ...], *, covariate: bool) -> exp.Expr:
        parts = [self._combined(i) for i in slots]
        if m.type == "mean":
            total, values = parts
            mean = exp.Div(
                this=exp.cast(total, "DOUBLE"),
                expression=exp.Nullif(this=values, expression=num(0)),
            )
            return exp.Coalesce(this=mean, expressions=[num(0)]) if covariate else mean
        if m.type == "moment" and not covariate:
            count, _, days = parts
            return case(
                and_(
                    exp.GTE(this=count, expression=self.params.bind(m.min_count)),
                    exp.GTE(this=days, expression=self.params.bind(m.min_distinct_days)),
                ),
                num(1),
                num(0),
            )
        (value,) = parts
        if m.type in ("conversion", "retention"):
            return case(exp.GT(this=value, expression=num(0)), num(1), num(0))
        return value  # count, sum, ratio's numerator, time to event, moment's covariate

    def _per_unit(self) -> tuple[exp.Select, list[_MetricColumns]]:
        varying = self._varying()
        columns: list[exp.Expr] = [
            col("unit_id", "pop"),
            col("start_us", "pop"),
            *(col(name, "pop") for name in varying),
        ]
        named: list[_MetricColumns] = []
        for i, (m, slots) in enumerate(zip(self.metrics, self.layout.metrics, strict=True)):
            names = _MetricColumns(
                value=f"m{i}_x",
                denominator=f"m{i}_y" if m.is_ratio else None,
                covariate=f"m{i}_c" if slots.covariate else None,
            )
            columns.append(exp.alias_(self._value(m, slots.value, covariate=False), names.value))
            if names.denominator and slots.denominator is not None:
                columns.append(exp.alias_(self._combined(slots.denominator), names.denominator))
            if names.covariate:
                covariate = self._value(m, slots.covariate, covariate=True)
                columns.append(exp.alias_(covariate, names.covariate))
            named.append(names)
        select = exp.select(*columns).from_(exp.to_table("population").as_("pop"))
        for chunk in range(self.layout.chunks):
            select = select.join(
                exp.to_table(UNIT_TABLE).as_(f"u{chunk}"),
                on=self._stored(f"u{chunk}", chunk, col("unit_id", "pop")),
                join_type="left",
            )
        select = select.join(
            self._recent().subquery("r"),
            on=exp.EQ(this=col("unit_id", "r"), expression=col("unit_id", "pop")),
            join_type="left",
        )
        return select, named
