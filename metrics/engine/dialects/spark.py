"""Spark SQL (local mode in tests; Spark Connect or Databricks in production).

``/`` is float division, so integer division is ``DIV``; parameters are ``:name`` markers; JSON
properties are a STRING column read as a VARIANT (``parse_json``), whose
``schema_of_variant`` tells a number from a string, as JSON semantics need.
"""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.dialects.base import MAX_BIT_DAYS, Dialect, JsonKind, count_day_bits, lit

_NUMBER_PREFIXES = ("BIGINT", "INT", "DOUBLE", "DECIMAL", "FLOAT", "SMALLINT", "TINYINT")


def _path(key: exp.Expr) -> exp.Expr:
    """Spark's JSON path for a bound key: ``$['key']`` (it has no ``$."key"`` form)."""
    return exp.DPipe(this=exp.DPipe(this=lit("$['"), expression=key), expression=lit("']"))


class SparkDialect(Dialect):
    name = "spark"
    sqlglot = "spark"
    integer_division = False

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

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="approx_count_distinct", expressions=[value])

    def distinct_days(self, hit: exp.Expr, day: exp.Expr, days: int) -> exp.Expr:
        if days > MAX_BIT_DAYS:
            return super().distinct_days(hit, day, days)
        one = exp.cast(exp.Literal.number(1), "BIGINT")
        bit = exp.Anonymous(this="shiftleft", expressions=[one, exp.cast(day, "INT")])
        return count_day_bits(hit, bit, "bit_or", "bit_count")
