"""DuckDB: embedded and columnar. ``/`` is float division, so integer division is ``//``;
JSON through json_type / json_extract_string with a ``$."key"`` path; parameters as ``$name``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from metrics.engine.dialects.base import (
    MAX_BIT_DAYS,
    Dialect,
    JsonKind,
    count_day_bits,
    json_path,
    lit,
)

_KINDS = {
    "string": ("VARCHAR",),
    "number": ("BIGINT", "UBIGINT", "DOUBLE", "HUGEINT"),
    "true": ("BOOLEAN",),
    "false": ("BOOLEAN",),
}


class DuckDBDialect(Dialect):
    name = "duckdb"
    sqlglot = "duckdb"
    integer_division = False

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="json_type", expressions=[column, json_path(key)])

    def _string(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="json_extract_string", expressions=[column, json_path(key)])

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return self._string(column, key)

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.TryCast(
            this=self._string(column.copy(), key.copy()), to=exp.DataType.build("DOUBLE")
        )
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Not(this=exp.Is(this=exp.paren(self._type(column, key)), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        is_type = exp.In(this=self._type(column, key), expressions=[lit(k) for k in _KINDS[kind]])
        if kind in ("true", "false"):
            same = exp.EQ(this=self._string(column.copy(), key.copy()), expression=lit(kind))
            return exp.and_(is_type, same)
        return is_type

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="epoch_us", expressions=[timestamp])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.Anonymous(
            this="quantile_cont", expressions=[value, exp.Literal.number(fraction)]
        )

    def quantile_list(self, value: exp.Expr, levels: Sequence[float]) -> exp.Expr | None:
        numbers = exp.Array(expressions=[exp.Literal.number(repr(f)) for f in levels])
        return exp.Anonymous(this="quantile_cont", expressions=[value, numbers])

    def list_element(self, array: exp.Expr, index: int) -> exp.Expr:
        return exp.Anonymous(this="list_extract", expressions=[array, exp.Literal.number(index)])

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="approx_count_distinct", expressions=[value])

    def distinct_days(self, hit: exp.Expr, day: exp.Expr, days: int) -> exp.Expr:
        if days > MAX_BIT_DAYS:
            return super().distinct_days(hit, day, days)
        one = exp.cast(exp.Literal.number(1), "BIGINT")
        bit = exp.BitwiseLeftShift(this=one, expression=exp.cast(day, "INT"))
        return count_day_bits(hit, bit, "bit_or", "bit_count")
