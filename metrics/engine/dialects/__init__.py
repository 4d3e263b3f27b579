"""One dialect object per engine: the hooks sqlglot cannot translate (see ``base``)."""

from __future__ import annotations

from metrics.engine.dialects.base import Dialect
from metrics.engine.dialects.clickhouse import ClickHouseDialect
from metrics.engine.dialects.duckdb import DuckDBDialect
from metrics.engine.dialects.postgres import PostgresDialect
from metrics.engine.dialects.spark import SparkDialect
from metrics.engine.dialects.sqlite import SQLiteDialect
from metrics.engine.dialects.warehouses import BigQueryDialect, SnowflakeDialect, TrinoDialect

_DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        SQLiteDialect(),
        PostgresDialect(),
        DuckDBDialect(),
        ClickHouseDialect(),
        SparkDialect(),
        BigQueryDialect(),
        SnowflakeDialect(),
        TrinoDialect(),
    )
}
# Engines we run statements on (the others are rendered and snapshot-tested only).
RUNNABLE = ("sqlite", "postgres", "duckdb", "clickhouse", "spark")
DIALECT_NAMES = tuple(_DIALECTS)
UNKNOWN_DIALECT = "Unsupported dialect {name!r}."


def get_dialect(name: str) -> Dialect:
    """Return the dialect object named ``name`` (ValueError if there is none)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(UNKNOWN_DIALECT.format(name=name)) from None


__all__ = ["DIALECT_NAMES", "RUNNABLE", "Dialect", "get_dialect"]
