"""What every engine's SQL has in common, and the hooks an engine may write differently.

The compiler writes one sqlglot tree; ``Dialect.render`` turns it into one engine's text.
sqlglot translates most of it (casts, quoting, functions); a dialect module writes only what it
cannot: access to a JSON property column with JSON semantics, integer division when the
engine's ``/`` is not integer on integers, timestamps as microseconds, percentiles, approximate
distinct counts, distinct day counts (bit aggregates where the engine has them), and how a bound
parameter is written. One small module per engine, like
GrowthBook's dialect objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

JsonKind = str  # "string", "number", "true", "false"
MAX_BIT_DAYS = 62  # days that fit in a signed 64-bit mask, one bit each


class Dialect:
    """The SQLite-flavoured defaults; engines override the hooks they write differently."""

    name = ""
    sqlglot = ""
    # Whether ``a / b`` on two integers is integer division on this engine.
    integer_division = True
    # Whether scalar subqueries that look a row up by an outer column must become LEFT JOINs
    # (see ``decorrelate``): engines whose correlated subqueries fail on them.
    decorrelate_lookups = False

    # --- rendering ----------------------------------------------------------------------------
    def render(self, tree: exp.Expr, params: Mapping[str, Any]) -> str:
        """Return the engine's SQL text for ``tree``; placeholders stay named parameters."""
        if not self.integer_division:
            tree = self._integer_divisions(tree)
        if self.decorrelate_lookups:
            tree = decorrelate(tree)
        return self.finish(tree, params).sql(dialect=self.sqlglot)

    def finish(self, tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        """A last rewrite before rendering (typed placeholders, for one); none by default."""
        return tree

    def _integer_divisions(self, tree: exp.Expr) -> exp.Expr:
        """Rewrite every integer division, inner ones first: a division nested in another
        (a local day divided into ISO weeks) is rewritten too, which ``transform`` would skip
        once it had replaced the outer one."""
        tree = tree.copy()
        divisions = [d for d in tree.find_all(exp.Div) if d.args.get("typed")]
        for node in reversed(divisions):  # find_all is depth-first: descendants come last
            replacement = self.int_div(node.this, node.expression)
            if node is tree:
                return replacement
            node.replace(replacement)
        return tree

    def int_div(self, left: exp.Expr, right: exp.Expr) -> exp.Expr:
        """Integer division of two non-negative integers (the same result on every engine)."""
        return exp.IntDiv(this=left, expression=right)

    # --- JSON properties ----------------------------------------------------------------------
    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        """The property as text (a string's value), or NULL when absent."""
        return exp.JSONExtractScalar(this=column, expression=key)

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        """The property as a DOUBLE when it is a JSON number, else NULL (never an error)."""
        raise NotImplementedError

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        """Whether the property is present (a JSON null counts as present)."""
        raise NotImplementedError

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        """Whether the property is a JSON ``kind``: string, number, or the literal true/false."""
        raise NotImplementedError

    # --- time, percentiles, distinct counts ---------------------------------------------------
    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        """A TIMESTAMP column as integer microseconds since the epoch (UTC)."""
        return exp.cast(
            exp.Mul(
                this=exp.Anonymous(
                    this="unixepoch", expressions=[timestamp, exp.Literal.string("subsec")]
                ),
                expression=exp.Literal.number(1_000_000),
            ),
            "BIGINT",
        )

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        """The ``fraction`` quantile of ``value`` as an aggregate (the engine's own function)."""
        return exp.PercentileCont(this=value, expression=exp.Literal.number(fraction))

    def quantile_list(self, value: exp.Expr, levels: Sequence[float]) -> exp.Expr | None:
        """The exact linear-interpolation quantiles of ``value`` at ``levels`` (constants in
        [0, 1]) as one aggregate returning an array, sorting once; None where the engine has no
        such aggregate (the quantile statement then ranks values with window functions)."""
        return None

    def list_element(self, array: exp.Expr, index: int) -> exp.Expr:
        """Element ``index`` (1-based) of an array ``quantile_list`` returned."""
        return exp.Bracket(this=array, expressions=[exp.Literal.number(index)], offset=1)

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        """An approximate count of distinct values (exact where the engine has no sketch)."""
        return exp.Count(this=exp.Distinct(expressions=[value]))

    def distinct_days(self, hit: exp.Expr, day: exp.Expr, days: int) -> exp.Expr:
        """The exact number of distinct values of ``day`` (a day number in [0, days)) on the
        rows where ``hit`` holds, as an aggregate. ``COUNT(DISTINCT)`` here; engines with bit
        aggregates OR one bit per day instead (``count_day_bits``): a distinct aggregate makes
        them group every row a second time."""
        return exp.Count(this=exp.Distinct(expressions=[exp.Case().when(hit, day)]))


def count_day_bits(hit: exp.Expr, bit: exp.Expr, bit_or: str, bit_count: str) -> exp.Expr:
    """``COALESCE(bit_count(bit_or(CASE WHEN hit THEN bit END)), 0)``: how many distinct days
    have their bit set (``bit`` is ``1 << day``), with the engine's function names."""
    mask = exp.Anonymous(this=bit_or, expressions=[exp.Case().when(hit, bit)])
    count = exp.Anonymous(this=bit_count, expressions=[mask])
    return exp.Coalesce(this=count, expressions=[exp.Literal.number(0)])


def lit(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def json_path(key: exp.Expr) -> exp.Expr:
    """The JSON path ``$."key"`` built from a bound key (property names never hold quotes)."""
    return exp.DPipe(this=exp.DPipe(this=lit('$."'), expression=key), expression=lit('"'))


# --- correlated lookups ------------------------------------------------------------------
FROM_ARG = "from_" if "from_" in exp.Select.arg_types else "from"  # renamed in sqlglot 30


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
    sources = [select.args.get(FROM_ARG), *select.args.get("joins", [])]
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
    derived.set(FROM_ARG, inner.args[FROM_ARG].copy())
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
