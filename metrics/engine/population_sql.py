"""The first half of a metric statement: the event source (events with the unit they belong to)
and the population (each unit's start, group and segment), as sqlglot trees.

A base of ``MetricCompiler``: it shares the compiler's bound parameters and JSON access.
"""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.json_access import JsonAccess
from metrics.engine.populations import Population, TablePopulation
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE, Params, and_, col


class PopulationSql:
    """Build the event source and the population of one statement."""

    params: Params
    json: JsonAccess
    workspace_id: int
    unit_property: str
    population: Population
    cutoff_us: int

    # --- the event source: events with the unit they belong to ------------------------------
    def _source(self) -> exp.Select:
        """Events of the workspace with a ``unit_id`` (the account through persons, if asked)."""
        ws = self.params.bind(self.workspace_id)
        if not self.unit_property:
            unit = col("distinct_id", "ev")
            select = exp.select(
                col("event", "ev"),
                col("timestamp_us", "ev"),
                col("properties", "ev"),
                exp.alias_(unit, "unit_id"),
            ).from_(exp.to_table(EVENTS_TABLE).as_("ev"))
            return select.where(exp.EQ(this=col("workspace_id", "ev"), expression=ws))
        account = self.json.text(col("properties", "pp"), self.unit_property)
        return (
            exp.select(
                col("event", "ev"),
                col("timestamp_us", "ev"),
                col("properties", "ev"),
                exp.alias_(exp.cast(account, "TEXT"), "unit_id"),
            )
            .from_(exp.to_table(EVENTS_TABLE).as_("ev"))
            .join(
                exp.to_table(PERSONS_TABLE).as_("pp"),
                on=and_(
                    exp.EQ(this=col("workspace_id", "pp"), expression=col("workspace_id", "ev")),
                    exp.EQ(this=col("distinct_id", "pp"), expression=col("distinct_id", "ev")),
                ),
            )
            .where(
                and_(
                    exp.EQ(this=col("workspace_id", "ev"), expression=ws),
                    exp.Not(this=exp.Is(this=account, expression=exp.null())),
                )
            )
        )

    # --- the population: unit, start_us, grp, seg --------------------------------------------
    def _segment_of(self, unit: exp.Expr) -> exp.Expr:
        """Return the segment value of ``unit`` from its person properties ('(none)' if unset)."""
        prop = self.population.segment_property
        if not prop:
            return exp.Literal.string("all")
        person = (
            exp.select(exp.cast(self.json.text(col("properties", "sp"), prop), "TEXT"))
            .from_(exp.to_table(PERSONS_TABLE).as_("sp"))
            .where(
                and_(
                    exp.EQ(
                        this=col("workspace_id", "sp"),
                        expression=self.params.bind(self.workspace_id),
                    ),
                    exp.EQ(this=col("distinct_id", "sp"), expression=unit),
                )
            )
        )
        return exp.Coalesce(
            this=exp.Subquery(this=person), expressions=[exp.Literal.string("(none)")]
        )

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
            unit = col(pop.unit_column, "pt")
            conditions: list[exp.Expr] = [
                exp.EQ(this=col(column, "pt"), expression=self.params.bind(value))
                for column, value in pop.filters
            ]
            if pop.exclude_column:
                conditions.append(exp.Not(this=col(pop.exclude_column, "pt")))
            return (
                exp.select(
                    exp.alias_(unit, "unit_id"),
                    exp.alias_(col(pop.start_column, "pt"), "start_us"),
                    exp.alias_(exp.cast(col(pop.group_column, "pt"), "TEXT"), "grp"),
                    exp.alias_(self._segment_of(unit), "seg"),
                    exp.alias_(self._bucket_of(col(pop.start_column, "pt"), pop.bucket_us), "bkt"),
                )
                .from_(exp.to_table(pop.table).as_("pt"))
                .where(and_(*conditions))
            )
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
        if pop.bucket_us:
            # Integer division of a non-negative integer: the same on every engine.
            group: exp.Expr = exp.cast(
                exp.Div(
                    this=col("start_us", "fs"),
                    expression=self.params.bind(pop.bucket_us),
                    typed=True,
                ),
                "TEXT",
            )
        else:
            group = exp.Literal.string("all")
        return exp.select(
            exp.alias_(unit, "unit_id"),
            col("start_us", "fs"),
            exp.alias_(group, "grp"),
            exp.alias_(self._segment_of(unit), "seg"),
        ).from_(exp.Subquery(this=first, alias=exp.TableAlias(this="fs")))
