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

from collections.abc import Mapping
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

    # --- rendering ----------------------------------------------------------------------------
    def render(self, tree: exp.Expr, params: Mapping[str, Any]) -> str:
        """Return the engine's SQL text for ``tree``; placeholders stay named parameters."""
        if not self.integer_division:
            tree = tree.transform(self._integer_division)
        return self.finish(tree, params).sql(dialect=self.sqlglot)

    def finish(self, tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        """A last rewrite before rendering (typed placeholders, for one); none by default."""
        return tree

    def _integer_division(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Div) and node.args.get("typed"):
            return self.int_div(node.this, node.expression)
        return node

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
