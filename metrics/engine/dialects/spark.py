"""Spark SQL (local mode in tests; Spark Connect or Databricks in production).

``/`` is float division, so integer division is ``DIV``; parameters are ``:name`` markers; JSON
properties are a STRING column read as a VARIANT (``parse_json``) at path ``$['key']``, whose
``schema_of_variant`` tells a number from a string, as JSON semantics need.

A recursive CTE runs as one job per iteration in Spark (seconds each in local mode), so a CTE
that only counts (``n(x) AS (SELECT a UNION ALL SELECT x + 1 FROM n WHERE x < b)``: the days
of a range) becomes ``explode(sequence(a, b))``, one step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

from metrics.engine.dialects.base import (
    FROM_ARG,
    MAX_BIT_DAYS,
    Dialect,
    JsonKind,
    count_day_bits,
    lit,
)

_NUMBER_PREFIXES = ("BIGINT", "INT", "DOUBLE", "DECIMAL", "FLOAT", "SMALLINT", "TINYINT")


def _path(key: exp.Expr) -> exp.Expr:
    """Spark's JSON path ``$['key']``: get_json_object and variant_get read no ``$."key"``
    (they return NULL for it), and property names never hold quotes."""
    return exp.DPipe(this=exp.DPipe(this=lit("$['"), expression=key), expression=lit("']"))


class SparkDialect(Dialect):
    name = "spark"
    sqlglot = "spark"
    integer_division = False
    # Correlated lookups hit an optimizer bug (PushProjectionThroughUnion: "key not found")
    # when the outer column comes from a UNION ALL: feature adoption by segment.
    decorrelate_lookups = True

    def finish(self, tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        tree = tree.copy()
        for with_ in tree.find_all(exp.With):
            if not with_.args.get("recursive"):
                continue
            for cte in with_.expressions:
                sequence = counting_sequence(cte)
                if sequence is not None:
                    cte.set("this", sequence)
            with_.set("recursive", any(_self_referencing(cte) for cte in with_.expressions))
        return tree

    def _value(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        variant = exp.Anonymous(this="try_parse_json", expressions=[column])
        return exp.Anonymous(this="variant_get", expressions=[variant, _path(key), lit("variant")])

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="schema_of_variant", expressions=[self._value(column, key)])

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="get_json_object", expressions=[column, _path(key)])

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        variant = exp.Anonymous(this="try_parse_json", expressions=[column.copy()])
        value = exp.Anonymous(
            this="try_variant_get", expressions=[variant, _path(key.copy()), lit("double")]
        )
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Not(this=exp.Is(this=exp.paren(self._value(column, key)), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        schema = self._type(column, key)
        if kind == "number":
            return exp.or_(
                *(
                    exp.Like(this=schema.copy(), expression=lit(prefix + "%"))
                    for prefix in _NUMBER_PREFIXES
                )
            )
        if kind == "string":
            return exp.EQ(this=schema, expression=lit("STRING"))
        text = exp.Anonymous(this="get_json_object", expressions=[column.copy(), _path(key.copy())])
        return exp.and_(
            exp.EQ(this=schema, expression=lit("BOOLEAN")), exp.EQ(this=text, expression=lit(kind))
        )

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="unix_micros", expressions=[timestamp])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.Anonymous(this="percentile", expressions=[value, exp.Literal.number(fraction)])

    def quantile_list(self, value: exp.Expr, levels: Sequence[float]) -> exp.Expr | None:
        numbers = exp.Array(expressions=[exp.Literal.number(repr(f)) for f in levels])
        return exp.Anonymous(this="percentile", expressions=[value, numbers])

    def list_element(self, array: exp.Expr, index: int) -> exp.Expr:
        return exp.Anonymous(this="element_at", expressions=[array, exp.Literal.number(index)])

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="approx_count_distinct", expressions=[value])

    def distinct_days(self, hit: exp.Expr, day: exp.Expr, days: int) -> exp.Expr:
        if days > MAX_BIT_DAYS:
            return super().distinct_days(hit, day, days)
        one = exp.cast(exp.Literal.number(1), "BIGINT")
        bit = exp.Anonymous(this="shiftleft", expressions=[one, exp.cast(day, "INT")])
        return count_day_bits(hit, bit, "bit_or", "bit_count")


def _self_referencing(cte: exp.CTE) -> bool:
    return any(t.name == cte.alias_or_name for t in cte.this.find_all(exp.Table))


def counting_sequence(cte: exp.CTE) -> exp.Select | None:
    """``SELECT explode(sequence(a, greatest(a, b))) AS x`` for a CTE ``n(x)`` that counts from
    ``a`` to ``b`` by recursion (the same rows: ``a`` alone when ``b < a``), else None."""
    alias = cte.args.get("alias")
    body = cte.this
    if (
        alias is None
        or len(alias.columns) != 1
        or not isinstance(body, exp.Union)
        or body.args.get("distinct")
    ):
        return None
    name, column = alias.name, alias.columns[0].name
    seed, step = body.this, body.expression
    if not (
        isinstance(seed, exp.Select)
        and isinstance(step, exp.Select)
        and len(seed.expressions) == 1
        and len(step.expressions) == 1
        and seed.args.get(FROM_ARG) is None
        and not seed.args.get("where")
        and not step.args.get("joins")
    ):
        return None
    source = step.args.get(FROM_ARG)
    increment = step.expressions[0]
    where = step.args.get("where")
    bound = where.this if where is not None else None
    if not (
        source is not None
        and isinstance(source.this, exp.Table)
        and source.this.name == name
        and isinstance(increment, exp.Add)
        and _is_column(increment.this, column)
        and increment.expression == exp.Literal.number(1)
        and isinstance(bound, exp.LT)
        and _is_column(bound.this, column)
        and bound.expression.find(exp.Column) is None
    ):
        return None
    start = seed.expressions[0]
    start = start.this if isinstance(start, exp.Alias) else start
    end = exp.Greatest(this=start.copy(), expressions=[bound.expression.copy()])
    sequence = exp.Anonymous(this="sequence", expressions=[start.copy(), end])
    return exp.select(exp.alias_(exp.Explode(this=sequence), column))


def _is_column(node: exp.Expr, name: str) -> bool:
    return isinstance(node, exp.Column) and node.name == name
