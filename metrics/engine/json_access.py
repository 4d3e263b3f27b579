"""Access to an event's properties with JSON semantics, on every engine.

A string never equals a number, a missing property is NULL, and a property that is not a
number reads as NULL, never as an error. Properties live in a JSON text column (the dialect
writes the access: ``metrics.engine.dialects``) or, for warehouse tables, in typed columns.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from metrics.engine.dialects import get_dialect
from metrics.engine.sql import Params, and_

TYPED_PREFIX = "tp_"


class JsonAccess:
    """Dialect-specific access to a property; ``typed`` maps properties to typed columns."""

    def __init__(self, dialect: str, params: Params, typed: dict[str, str] | None = None) -> None:
        self.dialect = dialect
        self.hooks = get_dialect(dialect)
        self.params = params
        self.typed = typed or {}

    def _typed(self, column: exp.Expr, key: str) -> exp.Expr | None:
        """The typed column of ``key`` beside the JSON ``column`` (same table), if any."""
        if key not in self.typed or not isinstance(column, exp.Column):
            return None
        return exp.column(self.typed[key], table=column.table or None)

    def text(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return the property as text (strings), number (SQLite) or NULL when absent."""
        typed = self._typed(column, key)
        if typed is not None:
            return exp.cast(typed, "TEXT")
        return self.hooks.json_text(column, self.params.bind(key))

    def number(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return the property as a float when it is a JSON number, else NULL (never an error)."""
        typed = self._typed(column, key)
        if typed is not None:
            return exp.TryCast(this=typed, to=exp.DataType.build("DOUBLE"))
        return self.hooks.json_number(column, self.params.bind(key))

    def is_set(self, column: exp.Expr, key: str) -> exp.Expr:
        """Return whether the property is present (JSON null counts as present)."""
        typed = self._typed(column, key)
        if typed is not None:
            return exp.Not(this=exp.Is(this=typed, expression=exp.null()))
        return self.hooks.json_present(column, self.params.bind(key))

    def equals(self, column: exp.Expr, key: str, value: Any) -> exp.Expr:
        """Compare with JSON semantics: a string never equals a number, nor a number a boolean."""
        typed = self._typed(column, key)
        if typed is not None:
            if isinstance(value, bool):
                return exp.EQ(this=exp.cast(typed, "BOOLEAN"), expression=exp.Boolean(this=value))
            if isinstance(value, int | float):
                return exp.EQ(this=self.number(column, key), expression=self.params.bind(value))
            return exp.EQ(this=exp.cast(typed, "TEXT"), expression=self.params.bind(value))
        if isinstance(value, bool):
            kind = "true" if value else "false"
            return self.hooks.json_is(column, self.params.bind(key), kind)
        if isinstance(value, int | float):
            return exp.EQ(this=self.number(column, key), expression=self.params.bind(value))
        key_param = self.params.bind(key)
        return and_(
            self.hooks.json_is(column, key_param, "string"),
            exp.EQ(
                this=self.hooks.json_text(column.copy(), key_param.copy()),
                expression=self.params.bind(value),
            ),
        )
