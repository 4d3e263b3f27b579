"""What every engine's SQL has in common, and the hooks an engine may write differently.

The compiler writes one sqlglot tree; ``Dialect.render`` turns it into one engine's text.
sqlglot translates most of it (casts, quoting, functions); a dialect module writes only what it
cannot: access to a JSON property column with JSON semantics, integer division when the
engine's ``/`` is not integer on integers, timestamps as microseconds, percentiles, approximate
distinct counts, and how a bound parameter is written. One small module per engine, like
GrowthBook's dialect objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

JsonKind = str  # "string", "number", "true", "false"


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
            tree = self._integer_divisions(tree)
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

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        """An approximate count of distinct values (exact where the engine has no sketch)."""
        return exp.Count(this=exp.Distinct(expressions=[value]))


def lit(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def json_path(key: exp.Expr) -> exp.Expr:
    """The JSON path ``$."key"`` built from a bound key (property names never hold quotes)."""
    return exp.DPipe(this=exp.DPipe(this=lit('$."'), expression=key), expression=lit('"'))
