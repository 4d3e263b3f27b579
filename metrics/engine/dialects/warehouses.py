"""BigQuery, Snowflake and Trino: rendered and snapshot-tested, not run here (no server).

Each writes JSON access, microseconds and percentiles its own way; sqlglot translates the rest,
integer division included (``DIV``, ``TRUNC``, ``TRUNCATE``).
"""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.dialects.base import Dialect, JsonKind, json_path, lit


class BigQueryDialect(Dialect):
    name = "bigquery"
    sqlglot = "bigquery"
    integer_division = False

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.Anonymous(this="JSON_QUERY", expressions=[column, json_path(key)])
        return exp.Anonymous(
            this="JSON_TYPE", expressions=[exp.Anonymous(this="PARSE_JSON", expressions=[value])]
        )

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="JSON_VALUE", expressions=[column, json_path(key)])

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.TryCast(
            this=self.json_text(column.copy(), key.copy()), to=exp.DataType.build("DOUBLE")
        )
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.Anonymous(this="JSON_QUERY", expressions=[column, json_path(key)])
        return exp.Not(this=exp.Is(this=exp.paren(value), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        if kind in ("true", "false"):
            return exp.and_(
                exp.EQ(this=self._type(column, key), expression=lit("boolean")),
                exp.EQ(this=self.json_text(column.copy(), key.copy()), expression=lit(kind)),
            )
        return exp.EQ(this=self._type(column, key), expression=lit(kind))

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="UNIX_MICROS", expressions=[timestamp])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        quantiles = exp.Anonymous(
            this="APPROX_QUANTILES", expressions=[value, exp.Literal.number(1000)]
        )
        return exp.Bracket(
            this=quantiles,
            expressions=[
                exp.Anonymous(
                    this="OFFSET", expressions=[exp.Literal.number(round(fraction * 1000))]
                )
            ],
        )

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="APPROX_COUNT_DISTINCT", expressions=[value])


class SnowflakeDialect(Dialect):
    name = "snowflake"
    sqlglot = "snowflake"
    integer_division = False

    def _variant(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(
            this="GET",
            expressions=[exp.Anonymous(this="TRY_PARSE_JSON", expressions=[column]), key],
        )

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="TYPEOF", expressions=[self._variant(column, key)])

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="JSON_EXTRACT_PATH_TEXT", expressions=[column, key])

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.Anonymous(
            this="TO_DOUBLE", expressions=[self._variant(column.copy(), key.copy())]
        )
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Not(
            this=exp.Is(this=exp.paren(self._variant(column, key)), expression=exp.null())
        )

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        kinds = {
            "string": ("VARCHAR",),
            "number": ("INTEGER", "DECIMAL", "DOUBLE"),
            "true": ("BOOLEAN",),
            "false": ("BOOLEAN",),
        }[kind]
        is_type = exp.In(this=self._type(column, key), expressions=[lit(k) for k in kinds])
        if kind in ("true", "false"):
            return exp.and_(
                is_type,
                exp.EQ(this=self.json_text(column.copy(), key.copy()), expression=lit(kind)),
            )
        return is_type

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        return exp.Anonymous(
            this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), timestamp]
        )

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="APPROX_COUNT_DISTINCT", expressions=[value])


class TrinoDialect(Dialect):
    name = "trino"
    sqlglot = "trino"
    integer_division = True  # Trino's / on two integers is integer division

    def _value(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(
            this="JSON_EXTRACT",
            expressions=[exp.Anonymous(this="JSON_PARSE", expressions=[column]), json_path(key)],
        )

    def json_text(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="JSON_EXTRACT_SCALAR", expressions=[column, json_path(key)])

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.TryCast(
            this=self._value(column.copy(), key.copy()), to=exp.DataType.build("DOUBLE")
        )
        return exp.Case().when(self.json_is(column, key, "number"), value)

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Not(this=exp.Is(this=exp.paren(self._value(column, key)), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        text = exp.Anonymous(this="JSON_FORMAT", expressions=[self._value(column, key)])
        if kind == "string":
            return exp.Like(this=text, expression=lit('"%'))
        if kind == "number":
            return exp.Anonymous(this="REGEXP_LIKE", expressions=[text.copy(), lit(r"^-?[0-9]")])
        return exp.EQ(this=text, expression=lit(kind))

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="TO_UNIXTIME", expressions=[timestamp])

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.Anonymous(
            this="APPROX_PERCENTILE", expressions=[value, exp.Literal.number(fraction)]
        )

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="APPROX_DISTINCT", expressions=[value])
