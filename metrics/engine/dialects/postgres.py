"""PostgreSQL: JSONB with jsonb_typeof; integer division and bound parameters as sqlglot writes."""

from __future__ import annotations

from sqlglot import exp

from metrics.engine.dialects.base import Dialect, JsonKind, lit


class PostgresDialect(Dialect):
    name = "postgres"
    sqlglot = "postgres"

    def _type(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Anonymous(
            this="jsonb_typeof", expressions=[exp.JSONExtract(this=column, expression=key)]
        )

    def json_number(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.JSONExtractScalar(this=column.copy(), expression=key.copy())
        return exp.Case().when(self.json_is(column, key, "number"), exp.cast(value, "DOUBLE"))

    def json_present(self, column: exp.Expr, key: exp.Expr) -> exp.Expr:
        value = exp.JSONExtract(this=column, expression=key)
        return exp.Not(this=exp.Is(this=exp.paren(value), expression=exp.null()))

    def json_is(self, column: exp.Expr, key: exp.Expr, kind: JsonKind) -> exp.Expr:
        if kind in ("true", "false"):
            return exp.and_(
                exp.EQ(this=self._type(column, key), expression=lit("boolean")),
                exp.EQ(
                    this=exp.JSONExtractScalar(this=column.copy(), expression=key.copy()),
                    expression=lit(kind),
                ),
            )
        return exp.EQ(this=self._type(column, key), expression=lit(kind))

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        epoch = exp.Extract(this=exp.var("EPOCH"), expression=timestamp)
        return exp.cast(
            exp.Round(this=exp.Mul(this=epoch, expression=exp.Literal.number(1_000_000))), "BIGINT"
        )

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.WithinGroup(
            this=exp.PercentileCont(this=exp.Literal.number(fraction)),
            expression=exp.Order(expressions=[exp.Ordered(this=value)]),
        )
