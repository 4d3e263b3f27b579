"""Per-dialect access to a JSON property column: the only SQL we write differently per engine.

JSON semantics are kept on every engine: a string never equals a number, a missing property
is NULL, and a property that is not a number reads as NULL, never as an error.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from metrics.engine.sql import Params, and_, case


class JsonAccess:
    """Dialect-specific access to a JSON property column (the only per-dialect SQL we write)."""

    def __init__(self, dialect: str, params: Params) -> None:
        self.dialect = dialect
        self.params = params

    def _path(self, key: str) -> exp.Expr:
        """Return the SQLite JSON path ``$."key"`` with the key bound as a parameter."""
        return exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string('$."'), expression=self.params.bind(key)),
            expression=exp.Literal.string('"'),
        )

    def text(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return the property as text (strings), number (SQLite) or NULL when absent."""
        return exp.JSONExtractScalar(this=column, expression=self.params.bind(key))

    def number(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return the property as a float when it is a JSON number, else NULL (never an error)."""
        if self.dialect == "postgres":
            k = self.params.bind(key)
            kind: exp.Expr = exp.Anonymous(
                this="jsonb_typeof", expressions=[exp.JSONExtract(this=column, expression=k)]
            )
            is_number: exp.Expr = exp.EQ(this=kind, expression=exp.Literal.string("number"))
            value: exp.Expr = exp.JSONExtractScalar(this=column.copy(), expression=k.copy())
            return case(is_number, exp.cast(value, "DOUBLE"))
        path = self._path(key)
        kind = exp.Anonymous(this="json_type", expressions=[column, path])
        is_number = exp.In(
            this=kind, expressions=[exp.Literal.string("integer"), exp.Literal.string("real")]
        )
        value = exp.Anonymous(this="json_extract", expressions=[column.copy(), path.copy()])
        return case(is_number, exp.cast(value, "DOUBLE"))

    def is_set(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return whether the property is present (JSON null counts as present)."""
        if self.dialect == "postgres":
            value: exp.Expr = exp.JSONExtract(this=column, expression=self.params.bind(key))
        else:
            value = exp.Anonymous(this="json_type", expressions=[column, self._path(key)])
        return exp.Not(this=exp.Is(this=exp.paren(value), expression=exp.null()))

    def _type_in(self, column: exp.Expr, key: str, pg: str, lite: tuple[str, ...]) -> exp.Expr:
        """Return whether the property's JSON type is ``pg`` (PostgreSQL) / one of ``lite``."""
        if self.dialect == "postgres":
            kind = exp.Anonymous(
                this="jsonb_typeof",
                expressions=[exp.JSONExtract(this=column, expression=self.params.bind(key))],
            )
            return exp.EQ(this=kind, expression=exp.Literal.string(pg))
        kind = exp.Anonymous(this="json_type", expressions=[column, self._path(key)])
        return exp.In(this=kind, expressions=[exp.Literal.string(t) for t in lite])

    def equals(self, column: exp.Expr, key: str, value: Any) -> exp.Expr:
        """Compare with JSON semantics: a string never equals a number, nor a number a boolean."""
        if isinstance(value, bool):
            if self.dialect == "postgres":
                return and_(
                    self._type_in(column, key, "boolean", ()),
                    exp.EQ(
                        this=self.text(column.copy(), key),
                        expression=self.params.bind(str(value).lower()),
                    ),
                )
            return self._type_in(column, key, "", ("true",) if value else ("false",))
        if isinstance(value, int | float):
            return exp.EQ(this=self.number(column, key), expression=self.params.bind(value))
        return and_(
            self._type_in(column, key, "string", ("text",)),
            exp.EQ(this=self.text(column.copy(), key), expression=self.params.bind(value)),
        )
