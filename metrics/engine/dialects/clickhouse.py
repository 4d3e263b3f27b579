"""ClickHouse (a server through clickhouse-connect, or in-process through chdb).

``/`` is float division, so integer division is ``intDiv``; bound parameters are typed
(``{p0:Int64}``); JSON is a String column read with JSONType / JSONExtract*, which take the key
itself, not a path. Statements run with ``join_use_nulls = 1`` (see ``metrics.engines``), so
a LEFT JOIN gives NULLs, as on every other engine.

ClickHouse's correlated subqueries are experimental: a scalar subquery that looks up a row by
an outer column (a unit's person property) fails when that column is used nowhere else
("can't find correlated column"), so such lookups become LEFT JOINs (``decorrelate_lookups``).

ClickHouse's hash join builds its table from the join's right side and does not reorder: the
per-unit join ``population LEFT JOIN events`` would hash every event (it fails past
``max_bytes_in_join`` on a large table), so it is written ``events RIGHT JOIN population``:
the population, one row per unit, is hashed, and the events stream past it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

from metrics.engine.dialects.base import MAX_BIT_DAYS, Dialect, JsonKind, count_day_bits, lit

_KINDS = {
    "string": ("String",),
    "number": ("Int64", "UInt64", "Double"),
    "true": ("Bool",),
    "false": ("Bool",),
}


def parameter_type(value: Any) -> str:
    """The ClickHouse type of a bound parameter's Python value."""
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    return "String"


class ClickHouseDialect(Dialect):
    name = "clickhouse"
    sqlglot = "clickhouse"
    integer_division = False
    decorrelate_lookups = True

    def finish(self, tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        def typed(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in params:
                kind = exp.DataType.build(parameter_type(params[node.name]), dialect="clickhouse")
                return exp.Placeholder(this=node.name, kind=kind)
            return node

        return _population_hashed(tree.transform(typed))

    def int_div(self, left: exp.Expr, right: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="intDiv", expressions=[left, right])

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="JSONType", expressions=[column, key])

    def _has(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="JSONHas", expressions=[column, key])

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        string = exp.Anonymous(this="JSONExtractString", expressions=[column.copy(), key.copy()])
        raw = exp.Anonymous(this="JSONExtractRaw", expressions=[column.copy(), key.copy()])
        kind = self._type(column, key)
        return (
            exp.Case()
            .when(exp.EQ(this=kind, expression=lit("String")), string)
            .when(exp.In(this=kind.copy(), expressions=[lit(k) for k in _KINDS["number"]]), raw)
            .when(exp.EQ(this=kind.copy(), expression=lit("Bool")), raw.copy())
        )

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.Anonymous(this="JSONExtractFloat", expressions=[column.copy(), key.copy()])
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.EQ(this=self._has(column, key), expression=exp.Literal.number(1))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        is_type = exp.In(this=self._type(column, key), expressions=[lit(k) for k in _KINDS[kind]])
        if kind in ("true", "false"):
            raw = exp.Anonymous(this="JSONExtractRaw", expressions=[column.copy(), key.copy()])
            return exp.and_(is_type, exp.EQ(this=raw, expression=lit(kind)))
        return is_type

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        # toUnixTimestamp64Micro takes only DateTime64; warehouse tables often hold DateTime
        # (seconds) or DateTime64 of another scale, so convert to microsecond scale first.
        scaled = exp.Anonymous(this="toDateTime64", expressions=[timestamp, exp.Literal.number(6)])
        return exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[scaled])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.Anonymous(this=f"quantileExact({fraction!r})", expressions=[value])

    def quantile_list(self, value: exp.Expr, levels: Sequence[float]) -> exp.Expr | None:
        # Levels are parameters of the aggregate, so constants: computed floats, not input.
        # (sqlglot renders ParameterizedAgg as ``name(expressions)(params)``.)
        return exp.ParameterizedAgg(
            this="quantilesExactInclusive",
            expressions=[exp.Literal.number(repr(f)) for f in levels],
            params=[value],
        )

    def list_element(self, array: exp.Expr, index: int) -> exp.Expr:
        return exp.Anonymous(this="arrayElement", expressions=[array, exp.Literal.number(index)])

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="uniq", expressions=[value])

    def distinct_days(self, hit: exp.Expr, day: exp.Expr, days: int) -> exp.Expr:
        if days > MAX_BIT_DAYS:
            return super().distinct_days(hit, day, days)
        one = exp.Anonymous(this="toInt64", expressions=[exp.Literal.number(1)])
        # ClickHouse may shift on rows where ``hit`` is false too (and refuses a negative
        # shift): the day is kept within 0..62 there; where ``hit`` holds it already is.
        safe = exp.Anonymous(
            this="least",
            expressions=[
                exp.Anonymous(this="greatest", expressions=[day, exp.Literal.number(0)]),
                exp.Literal.number(MAX_BIT_DAYS),
            ],
        )
        bit = exp.Anonymous(this="bitShiftLeft", expressions=[one, safe])
        return count_day_bits(hit, bit, "groupBitOr", "bitCount")


def _population_hashed(tree: exp.Expr) -> exp.Expr:
    """Rewrite ``FROM population AS pop LEFT JOIN (...) AS e`` as ``FROM (...) AS e RIGHT JOIN
    population AS pop``: the same rows, with the population on the side ClickHouse hashes."""
    for select in tree.find_all(exp.Select):
        source, joins = select.args.get("from_"), select.args.get("joins") or []
        if source is None or not joins:
            continue
        first = joins[0]
        table = source.this
        if (
            isinstance(table, exp.Table)
            and table.alias_or_name == "pop"
            and first.side == "LEFT"
            and not first.args.get("kind")
            and first.this.alias == "e"
        ):
            events = first.this
            source.set("this", events)
            first.set("this", table)
            first.set("side", "RIGHT")
    return tree
