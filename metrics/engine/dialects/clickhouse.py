"""ClickHouse (a server through clickhouse-connect, or in-process through chdb).

``/`` is float division, so integer division is ``intDiv``; bound parameters are typed
(``{p0:Int64}``); JSON is a String column read with JSONType / JSONExtract*, which take the key
itself, not a path. Statements run with ``join_use_nulls = 1`` (see ``metrics.engines``), so
a LEFT JOIN gives NULLs, as on every other engine.

ClickHouse's correlated subqueries are experimental: a scalar subquery that looks up a row by
an outer column (a unit's person property) fails when that column is used nowhere else
("can't find correlated column"). ``decorrelate`` rewrites each such lookup into a LEFT JOIN of
the looked-up rows, grouped by their key, so at most one row per key joins, as a scalar
subquery gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from metrics.engine.dialects.base import Dialect, JsonKind, lit

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

    def finish(self, tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        tree = decorrelate(tree)

        def typed(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in params:
                kind = exp.DataType.build(parameter_type(params[node.name]), dialect="clickhouse")
                return exp.Placeholder(this=node.name, kind=kind)
            return node

        return tree.transform(typed)

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
        return exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[timestamp])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.Anonymous(this=f"quantileExact({fraction!r})", expressions=[value])

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="uniq", expressions=[value])


_FROM = "from_" if "from_" in exp.Select.arg_types else "from"  # renamed in sqlglot 30


def decorrelate(tree: exp.Expr) -> exp.Expr:
    """Rewrite scalar subqueries ``(SELECT v FROM t WHERE t.k = outer.c AND ...)`` into
    ``LEFT JOIN (SELECT t.k AS k0, any(v) AS v FROM t WHERE ... GROUP BY t.k) AS __dcN
    ON __dcN.k0 = outer.c`` in the enclosing SELECT, read as ``__dcN.v``. Subqueries of any
    other shape (uncorrelated, aggregated, correlated otherwise than by equalities) stay."""
    tree = tree.copy()
    subqueries = [s for s in tree.find_all(exp.Subquery) if _scalar(s)]
    for n, sub in enumerate(reversed(subqueries)):  # inner ones first
        _decorrelate_one(sub, f"__dc{n}")
    return tree


def _scalar(sub: exp.Subquery) -> bool:
    return (
        isinstance(sub.this, exp.Select)
        and not sub.alias
        and not isinstance(sub.parent, exp.From | exp.Join | exp.In | exp.Exists)
    )


def _sources(select: exp.Select) -> set[str]:
    """Aliases (or names) of the tables and derived tables a SELECT reads from."""
    sources = [select.args.get(_FROM), *select.args.get("joins", [])]
    return {src.this.alias_or_name for src in sources if src is not None}


def _decorrelate_one(sub: exp.Subquery, name: str) -> None:
    inner: exp.Select = sub.this
    outer = sub.parent_select
    where = inner.args.get("where")
    if (
        outer is None
        or where is None
        or len(inner.expressions) != 1
        or any(inner.args.get(k) for k in ("group", "having", "limit", "distinct", "order"))
        or inner.find(exp.AggFunc, exp.Window)
    ):
        return
    own, reachable = _sources(inner), _sources(outer)

    def foreign(node: exp.Expr) -> set[str]:
        return {c.table for c in node.find_all(exp.Column) if c.table and c.table not in own}

    conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
    keys: list[tuple[exp.Expr, exp.Expr]] = []
    kept: list[exp.Expr] = []
    for condition in conjuncts:
        if not foreign(condition):
            kept.append(condition)
            continue
        if not isinstance(condition, exp.EQ):
            return
        left, right = condition.this, condition.expression
        if foreign(left) and not foreign(right):
            left, right = right, left
        if foreign(left) or not foreign(right) <= reachable:
            return  # both sides outer, or an outer table the enclosing SELECT does not read
        keys.append((left, right))
    value = inner.expressions[0]
    value = value.this if isinstance(value, exp.Alias) else value
    derived = exp.select(
        *(exp.alias_(k.copy(), f"k{i}") for i, (k, _) in enumerate(keys)),
        exp.alias_(exp.AnyValue(this=value.copy()), "v"),
    )
    derived.set(_FROM, inner.args[_FROM].copy())
    for join in inner.args.get("joins", []):
        derived.append("joins", join.copy())
    if kept:
        derived.set("where", exp.Where(this=exp.and_(*(c.copy() for c in kept))))
    derived.set("group", exp.Group(expressions=[k.copy() for k, _ in keys]))
    on = exp.and_(
        *(
            exp.EQ(this=exp.column(f"k{i}", table=name), expression=o.copy())
            for i, (_, o) in enumerate(keys)
        )
    )
    table = exp.Subquery(this=derived, alias=exp.TableAlias(this=exp.to_identifier(name)))
    outer.append("joins", exp.Join(this=table, side="LEFT", on=on))
    sub.replace(exp.column("v", table=name))
