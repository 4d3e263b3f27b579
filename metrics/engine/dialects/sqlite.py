"""SQLite: the embedded default. JSON through json_type/json_extract with a ``$."key"`` path."""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.dialects.base import Dialect, JsonKind, json_path, lit

_KINDS = {
    "string": ("text",),
    "number": ("integer", "real"),
    "true": ("true",),
    "false": ("false",),
}


class SQLiteDialect(Dialect):
    name = "sqlite"
    sqlglot = "sqlite"

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="json_type", expressions=[column, json_path(key)])

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.Anonymous(
            this="json_extract", expressions=[column.copy(), json_path(key.copy())]
        )
        return exp.Case().when(self.json_is(column, key, "number"), exp.cast(value, "DOUBLE"))

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Not(this=exp.Is(this=exp.paren(self._type(column, key)), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        return exp.In(this=self._type(column, key), expressions=[lit(k) for k in _KINDS[kind]])
