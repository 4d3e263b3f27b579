"""The first half of a metric statement: the event source (events with the unit they belong to)
and the population (each unit's start, group and segment), as sqlglot trees.

A base of ``MetricCompiler``: it shares the compiler's bound parameters, JSON access and
event table (``metrics.engine.event_tables``).
"""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import EventTable
from metrics.engine.json_access import TYPED_PREFIX, JsonAccess
from metrics.engine.populations import (
    ExposurePopulation,
    FirstSeenPopulation,
    Population,
    TablePopulation,
)
from metrics.engine.sql import CompilerError, Params, and_, col

NO_PERSONS = (
    "Account units and segments need person properties; the event source {table!r} has no "
    "persons table."
)


def to_micros(dialect: str, column: exp.Expr, time_type: str) -> exp.Expr:
    """Return ``column`` (micros, millis, seconds or a TIMESTAMP) as integer microseconds."""
    if time_type == "micros":
        return column
    if time_type == "millis":
        return exp.Mul(this=column, expression=exp.Literal.number(1_000))
    if time_type == "seconds":
        return exp.Mul(this=column, expression=exp.Literal.number(1_000_000))
    return get_dialect(dialect).micros(column)


class PopulationSql:
    """Build the event source and the population of one statement."""

    dialect: str
    params: Params
    json: JsonAccess
    workspace_id: int
    unit_property: str
    population: Population
    cutoff_us: int
    events: EventTable

    def _typed_properties(self) -> dict[str, str]:
        """Typed property columns, as the source subquery names them (``tp_0``, ...)."""
        return {
            prop: f"{TYPED_PREFIX}{i}" for i, (prop, _) in enumerate(self.events.property_columns)
        }

    def _check_sources(self) -> None:
        if self.events.persons_table:
            return
        if self.unit_property or self.population.segment_property:
            raise CompilerError(NO_PERSONS.format(table=self.events.table))

    def _workspace_filter(self, alias: str) -> exp.Expr | None:
        if not self.events.workspace_column:
            return None
        return exp.EQ(
            this=col(self.events.workspace_column, alias),
            expression=self.params.bind(self.workspace_id),
        )

    # --- the event source: events with the unit they belong to ------------------------------
    def _source(self) -> exp.Select:
        """Events of the workspace with a ``unit_id`` (the account through persons, if asked)."""
        ev = self.events
        properties: exp.Expr = (
            col(ev.properties_column, "ev") if ev.properties_column else exp.null()
        )
        columns: list[exp.Expr] = [
            exp.alias_(col(ev.event_column, "ev"), "event"),
            exp.alias_(
                to_micros(self.dialect, col(ev.timestamp_column, "ev"), ev.time_type),
                "timestamp_us",
            ),
            exp.alias_(properties, "properties"),
            *(
                exp.alias_(col(column, "ev"), f"{TYPED_PREFIX}{i}")
                for i, (_, column) in enumerate(ev.property_columns)
            ),
        ]
        select = exp.select(*columns).from_(exp.to_table(ev.table).as_("ev"))
        if not self.unit_property:
            unit: exp.Expr = col(ev.unit_column, "ev")
            if ev.table != "plg_platform_event":
                unit = exp.cast(unit, "TEXT")
            select = select.select(exp.alias_(unit, "unit_id"))
            return select.where(and_(self._workspace_filter("ev")))
        account = self.json.text(col("properties", "pp"), self.unit_property)
        on = [exp.EQ(this=col("distinct_id", "pp"), expression=col(ev.unit_column, "ev"))]
        if ev.workspace_column:
            on.append(
                exp.EQ(this=col("workspace_id", "pp"), expression=col(ev.workspace_column, "ev"))
            )
        return (
            select.select(exp.alias_(exp.cast(account, "TEXT"), "unit_id"))
            .join(exp.to_table(ev.persons_table).as_("pp"), on=and_(*on))
            .where(
                and_(
                    self._workspace_filter("ev"),
                    exp.Not(this=exp.Is(this=account.copy(), expression=exp.null())),
                )
            )
        )

    # --- the population: unit, start_us, grp, seg --------------------------------------------
    def _with_segment(self, select: exp.Select, unit: exp.Expr) -> exp.Select:
        """Add ``seg``: the unit's person property ('(none)' if unset), or 'all'.

        A LEFT JOIN to the persons table (one row per distinct id), not a correlated subquery:
        ClickHouse and Spark plan joins, not correlated scalar subqueries.
        """
        prop = self.population.segment_property
        if not prop:
            return select.select(exp.alias_(exp.Literal.string("all"), "seg"))
        on = [exp.EQ(this=col("distinct_id", "sp"), expression=unit)]
        if self.events.workspace_column:
            on.append(
                exp.EQ(
                    this=col("workspace_id", "sp"), expression=self.params.bind(self.workspace_id)
                )
            )
        value = exp.cast(self.json.text(col("properties", "sp"), prop), "TEXT")
        return select.select(
            exp.alias_(exp.Coalesce(this=value, expressions=[exp.Literal.string("(none)")]), "seg")
        ).join(exp.to_table(self.events.persons_table).as_("sp"), on=and_(*on), join_type="left")

    def _bucket_of(self, start: exp.Expr, bucket_us: int) -> exp.Expr:
        """The start's bucket number (integer division of a non-negative integer: the same on
        every engine), or the literal 'all' without buckets."""
        if not bucket_us:
            return exp.Literal.string("all")
        return exp.cast(
            exp.Div(this=start, expression=self.params.bind(bucket_us), typed=True), "TEXT"
        )

    def _population(self) -> exp.Select:
        pop = self.population
        if isinstance(pop, TablePopulation):
            return self._table_population(pop)
        if isinstance(pop, ExposurePopulation):
            return self._exposure_population(pop)
        return self._first_seen_population()

    def _table_population(self, pop: TablePopulation) -> exp.Select:
        unit = col(pop.unit_column, "pt")
        conditions: list[exp.Expr] = [
            exp.EQ(this=col(column, "pt"), expression=self.params.bind(value))
            for column, value in pop.filters
        ]
        if pop.exclude_column:
            conditions.append(exp.Not(this=col(pop.exclude_column, "pt")))
        select = (
            exp.select(
                exp.alias_(unit, "unit_id"),
                exp.alias_(col(pop.start_column, "pt"), "start_us"),
                exp.alias_(exp.cast(col(pop.group_column, "pt"), "TEXT"), "grp"),
                exp.alias_(self._bucket_of(col(pop.start_column, "pt"), pop.bucket_us), "bkt"),
            )
            .from_(exp.to_table(pop.table).as_("pt"))
            .where(and_(*conditions))
        )
        return self._with_segment(select, unit.copy())

    def _exposure_population(self, pop: ExposurePopulation) -> exp.Select:
        """Each unit's first exposure in the source's exposure table, within the population's
        time bounds and before the cut-off; units seen in more than one variation there are
        left out. The segment comes from the persons table, as for ``TablePopulation``."""
        x = pop.exposures
        raw = (
            exp.select(
                exp.alias_(exp.cast(col(x.unit_column, "xr"), "TEXT"), "unit_id"),
                exp.alias_(
                    to_micros(self.dialect, col(x.timestamp_column, "xr"), x.time_type), "t"
                ),
                exp.alias_(exp.cast(col(x.variation_column, "xr"), "TEXT"), "variation"),
            )
            .from_(exp.to_table(x.table).as_("xr"))
            .where(
                exp.EQ(
                    this=exp.cast(col(x.experiment_column, "xr"), "TEXT"),
                    expression=self.params.bind(x.experiment_id),
                )
            )
        )
        if x.workspace_column:
            raw = raw.where(
                exp.EQ(
                    this=col(x.workspace_column, "xr"),
                    expression=self.params.bind(self.workspace_id),
                )
            )
        bounds: list[exp.Expr] = [
            exp.LT(this=col("t", "xe"), expression=self.params.bind(self.cutoff_us))
        ]
        if pop.starts_from_us is not None:
            bounds.append(
                exp.GTE(this=col("t", "xe"), expression=self.params.bind(pop.starts_from_us))
            )
        if pop.starts_before_us is not None:
            bounds.append(
                exp.LT(this=col("t", "xe"), expression=self.params.bind(pop.starts_before_us))
            )
        first = (
            exp.select(
                col("unit_id", "xe"),
                exp.alias_(exp.Min(this=col("t", "xe")), "start_us"),
                exp.alias_(exp.Min(this=col("variation", "xe")), "grp"),
            )
            .from_(raw.subquery("xe"))
            .where(and_(*bounds))
            .group_by(col("unit_id", "xe"))
            .having(
                # One variation: MIN = MAX, as COUNT(DISTINCT) = 1 but without a distinct
                # aggregate, which engines plan as a second grouping of every exposure row.
                exp.EQ(
                    this=exp.Min(this=col("variation", "xe")),
                    expression=exp.Max(this=col("variation", "xe")),
                )
            )
        )
        select = exp.select(
            col("unit_id", "fx"),
            col("start_us", "fx"),
            col("grp", "fx"),
            exp.alias_(self._bucket_of(col("start_us", "fx"), pop.bucket_us), "bkt"),
        ).from_(first.subquery("fx"))
        return self._with_segment(select, col("unit_id", "fx"))

    def _first_seen_population(self) -> exp.Select:
        pop = self.population
        assert isinstance(pop, FirstSeenPopulation)
        first = (
            exp.select(
                col("unit_id", "src"),
                exp.alias_(exp.Min(this=col("timestamp_us", "src")), "start_us"),
            )
            .from_(self._source().subquery("src"))
            .where(
                exp.LT(this=col("timestamp_us", "src"), expression=self.params.bind(self.cutoff_us))
            )
            .group_by(col("unit_id", "src"))
        )
        if pop.event:
            first = first.where(  # .where() ANDs with the cut-off condition
                exp.EQ(this=col("event", "src"), expression=self.params.bind(pop.event))
            )
        having: list[exp.Expr] = []
        if pop.starts_from_us is not None:
            having.append(
                exp.GTE(
                    this=exp.Min(this=col("timestamp_us", "src")),
                    expression=self.params.bind(pop.starts_from_us),
                )
            )
        if pop.starts_before_us is not None:
            having.append(
                exp.LT(
                    this=exp.Min(this=col("timestamp_us", "src")),
                    expression=self.params.bind(pop.starts_before_us),
                )
            )
        if having:
            first = first.having(and_(*having))
        unit = col("unit_id", "fs")
        select = exp.select(
            exp.alias_(unit, "unit_id"),
            col("start_us", "fs"),
            exp.alias_(self._bucket_of(col("start_us", "fs"), pop.bucket_us), "grp"),
        ).from_(exp.Subquery(this=first, alias=exp.TableAlias(this="fs")))
        return self._with_segment(select, unit.copy())
