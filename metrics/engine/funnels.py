"""Funnel metrics in SQL: for each unit, which of a funnel's ordered steps it reached.

**The rule.** Only events in the unit's window count: ``start <= t < start + window_days`` (and
before the cut-off). Step 1 is reached at ``f1``, the time of the first event matching it.
Step k is reached at ``fk``, the time of the first event matching step k at or after
``f(k-1)``, with one exception at the very same microsecond: an event at ``t = fj`` that also
matches an earlier step j reached at that time does not count for step k (it may be the very
event that completed step j; one event never completes two steps). So a signup and a document
created at the same microsecond by one request make two steps, while a funnel ``A -> A`` needs
two ``A`` events at different times. A unit converts when it reaches the last step.

**The statement.** One CTE per funnel reads the unit's matching events once (the population
joined to the events of the steps' names, within the window) and adds ``f1 .. fK`` as window
aggregates, one nested SELECT per step (``fk`` needs ``f(k-1)`` on every row):

    fk = MIN(CASE WHEN s_k = 1 AND t >= f(k-1) AND NOT (s_j = 1 AND t = fj) ... THEN t END)
         OVER (PARTITION BY unit_id, start_us)

then one row per unit with ``r_k`` = 1 when step k was reached. The compiler's per-unit step
joins that row: the metric's value is ``r_K`` (a proportion: whole-funnel conversion) and
``m{i}_s{k}`` the steps, summed per group into ``m{i}_step{k}`` (matured units reaching step k).

A mixin of ``MetricCompiler``: it shares the compiler's bound parameters, event source and
event matching. Funnels carry no CUPED covariate and are never capped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from metrics.engine.definition import EventFilter, MetricDefinition
from metrics.engine.sql import Params, and_, case, col, num
from metrics.engine.time_units import DAY_US

FUNNEL = "funnel"
PARTITION = ("unit_id", "start_us")
KEYS = {"unit_id": "funnel_unit", "start_us": "funnel_start"}  # in the funnel's CTE


def is_funnel(m: MetricDefinition) -> bool:
    return m.type == FUNNEL


def funnel_cte_name(index: int) -> str:
    return f"funnel_{index}"


def step_column(index: int, step: int) -> str:
    """The per-unit column: whether metric ``index``'s unit reached ``step`` (0-based)."""
    return f"m{index}_s{step}"


def step_output(index: int, step: int) -> str:
    """The statement's output: matured units of the group that reached ``step`` (0-based)."""
    return f"m{index}_step{step}"


class FunnelSql:
    """Build each funnel's per-unit CTE and its columns in the per-unit step."""

    params: Params
    cutoff_us: int
    metrics: tuple[MetricDefinition, ...]

    if TYPE_CHECKING:  # provided by ``PopulationSql`` and ``MetricCompiler``

        def _source(self) -> exp.Select: ...

        def _matches(self, event: str, filters: Sequence[EventFilter]) -> exp.Expr: ...

    def _funnels(self) -> list[tuple[int, MetricDefinition]]:
        return [(i, m) for i, m in enumerate(self.metrics) if is_funnel(m)]

    def _funnel_cte(self, m: MetricDefinition) -> exp.Select:
        """One row per unit with a matching event: ``unit_id, start_us, r0 .. r(K-1)``."""
        steps = m.steps
        assert m.window_days is not None
        t = col("timestamp_us", "e")
        start = col("start_us", "pop")
        window_end = exp.Add(this=start.copy(), expression=self.params.bind(m.window_days * DAY_US))
        on = and_(
            exp.EQ(this=col("unit_id", "e"), expression=col("unit_id", "pop")),
            exp.GTE(this=t, expression=start),
            exp.LT(this=t.copy(), expression=window_end),
            exp.LT(this=t.copy(), expression=self.params.bind(self.cutoff_us)),
            exp.In(
                this=col("event", "e"),
                expressions=[self.params.bind(name) for name in sorted({s.event for s in steps})],
            ),
        )
        # Level 0: the unit's matching events, with one 0/1 flag per step.
        level = (
            exp.select(
                col("unit_id", "pop"),
                col("start_us", "pop"),
                exp.alias_(t.copy(), "t"),
                *(
                    exp.alias_(case(self._matches(s.event, s.filters), num(1), num(0)), f"s{k}")
                    for k, s in enumerate(steps)
                ),
            )
            .from_(exp.to_table("population").as_("pop"))
            .join(self._source().subquery("e"), on=on, join_type="inner")
        )
        carried = ["unit_id", "start_us", "t", *(f"s{k}" for k in range(len(steps)))]
        # Levels 1..K: each adds the time its step was reached (``f{k}``).
        for k in range(len(steps)):
            alias = f"l{k}"
            reached = exp.Window(
                this=exp.Min(this=case(self._reaches(k), col("t"))),
                partition_by=[col(name) for name in PARTITION],
            )
            level = exp.select(
                *(col(name, alias) for name in carried), exp.alias_(reached, f"f{k}")
            ).from_(level.subquery(alias))
            carried.append(f"f{k}")
        last = "lf"
        flags = [
            exp.alias_(
                exp.Max(
                    this=case(
                        exp.Not(this=exp.Is(this=col(f"f{k}", last), expression=exp.null())),
                        num(1),
                        num(0),
                    )
                ),
                f"r{k}",
            )
            for k in range(len(steps))
        ]
        # Key columns named apart from the population's: joined beside it, a ``start_us`` of
        # both would make ClickHouse qualify the per-unit step's output names.
        return (
            exp.select(*(exp.alias_(col(name, last), KEYS[name]) for name in PARTITION), *flags)
            .from_(level.subquery(last))
            .group_by(*(col(name, last) for name in PARTITION))
        )

    def _reaches(self, k: int) -> exp.Expr:
        """On one event row (columns ``t``, ``s*``, ``f*``): whether it can reach step ``k``."""
        flag = exp.EQ(this=col(f"s{k}"), expression=num(1))
        if k == 0:
            return flag
        conditions: list[exp.Expr] = [flag, exp.GTE(this=col("t"), expression=col(f"f{k - 1}"))]
        for j in range(k):  # not an event that may have completed an earlier step just then
            conditions.append(
                exp.Not(
                    this=exp.paren(
                        and_(
                            exp.EQ(this=col(f"s{j}"), expression=num(1)),
                            exp.EQ(this=col("t"), expression=col(f"f{j}")),
                        )
                    )
                )
            )
        return and_(*conditions)

    def _funnel_per_unit(self, index: int, m: MetricDefinition) -> list[tuple[str, exp.Expr]]:
        """The per-unit step's columns of funnel ``index``: its value, then each step."""
        alias = funnel_cte_name(index)

        def reached(k: int) -> exp.Expr:
            return exp.Max(this=exp.Coalesce(this=col(f"r{k}", alias), expressions=[num(0)]))

        last = len(m.steps) - 1
        return [
            (f"m{index}_x", reached(last)),
            *((step_column(index, k), reached(k)) for k in range(len(m.steps))),
        ]

    def _funnel_joins(self) -> list[tuple[exp.Expr, exp.Expr]]:
        """(table, ON condition) to LEFT JOIN into the per-unit step, one per funnel."""
        joins = []
        for index, _ in self._funnels():
            alias = funnel_cte_name(index)
            on = and_(
                *(
                    exp.EQ(this=col(KEYS[name], alias), expression=col(name, "pop"))
                    for name in PARTITION
                )
            )
            joins.append((exp.to_table(alias).as_(alias), on))
        return joins

    def _funnel_outputs(
        self, index: int, m: MetricDefinition, mature: exp.Expr
    ) -> list[tuple[str, exp.Expr]]:
        """(name, expression) of the statement's step counts for funnel ``index``."""
        return [
            (
                step_output(index, k),
                exp.Sum(
                    this=case(
                        and_(
                            mature.copy(),
                            exp.EQ(this=col(step_column(index, k), "pu"), expression=num(1)),
                        ),
                        num(1),
                        num(0),
                    )
                ),
            )
            for k in range(len(m.steps))
        ]
