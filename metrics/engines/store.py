"""Our event store inside an engine: the same two tables as the app database
(``plg_platform_event``, ``plg_platform_person``) in DuckDB, ClickHouse or Spark, so the same
statements run there unchanged. Properties are JSON text. ``id`` numbers events in the order
they were stored, as the app database's key does: statements break ties of equal timestamps
with it (the later stored wins), so it is assigned on insert, after the rows already there.

Loading keeps the app database's rule that an ``insert_id`` is stored once per workspace:
rows whose (workspace, insert_id) is already stored, or repeated within the batch, are skipped
(an anti-join on insert; ClickHouse's persons table is a ReplacingMergeTree on its key).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from metrics.engine.partials.layout import DAY_TABLE, DIRTY_TABLE, UNIT_TABLE, VALUE_COLUMNS
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE
from metrics.engines.base import Engine
from metrics.engines.clickhouse import ChdbEngine, ClickHouseEngine
from metrics.engines.duckdb import DuckDBEngine
from metrics.engines.spark import SparkEngine

EVENT_COLUMNS = ("workspace_id", "event", "distinct_id", "timestamp_us", "insert_id", "properties")
PERSON_COLUMNS = ("workspace_id", "distinct_id", "properties")

_EVENT_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.int64()),
        ("event", pa.string()),
        ("distinct_id", pa.string()),
        ("timestamp_us", pa.int64()),
        ("insert_id", pa.string()),
        ("properties", pa.string()),
    ]
)
_ID_FIELD = pa.field("id", pa.int64())
_PERSON_SCHEMA = pa.schema(
    [("workspace_id", pa.int64()), ("distinct_id", pa.string()), ("properties", pa.string())]
)


def _text(properties: Any) -> str:
    return properties if isinstance(properties, str) else json.dumps(properties or {})


def event_table(rows: Iterable[Sequence[Any]]) -> pa.Table:
    """Rows of (workspace_id, event, distinct_id, timestamp_us, insert_id, properties)."""
    columns: list[list[Any]] = [[] for _ in EVENT_COLUMNS]
    for row in rows:
        for i, value in enumerate(row):
            columns[i].append(_text(value) if i == 5 else value)
    return pa.table(columns, schema=_EVENT_SCHEMA)


def person_table(rows: Iterable[Sequence[Any]]) -> pa.Table:
    """Rows of (workspace_id, distinct_id, properties)."""
    columns: list[list[Any]] = [[] for _ in PERSON_COLUMNS]
    for row in rows:
        for i, value in enumerate(row):
            columns[i].append(_text(value) if i == 2 else value)
    return pa.table(columns, schema=_PERSON_SCHEMA)


def create_store(engine: Engine) -> None:
    """Create the event store's tables in ``engine`` if they do not exist."""
    if isinstance(engine, DuckDBEngine):
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id BIGINT, event VARCHAR, "
            "distinct_id VARCHAR, timestamp_us BIGINT, insert_id VARCHAR, properties VARCHAR, "
            "id BIGINT)"
        )
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {PERSONS_TABLE} (workspace_id BIGINT, "
            "distinct_id VARCHAR, properties VARCHAR)"
        )
    elif isinstance(engine, ChdbEngine | ClickHouseEngine):
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id Int64, event String, "
            "distinct_id String, timestamp_us Int64, insert_id Nullable(String), "
            "properties String, id Int64) ENGINE = MergeTree "
            "ORDER BY (workspace_id, event, distinct_id, timestamp_us)"
        )
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {PERSONS_TABLE} (workspace_id Int64, "
            "distinct_id String, properties String) ENGINE = ReplacingMergeTree "
            "ORDER BY (workspace_id, distinct_id)"
        )
    elif isinstance(engine, SparkEngine):
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id BIGINT, event STRING, "
            "distinct_id STRING, timestamp_us BIGINT, insert_id STRING, properties STRING, "
            "id BIGINT) USING parquet"
        )
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {PERSONS_TABLE} (workspace_id BIGINT, "
            "distinct_id STRING, properties STRING) USING parquet"
        )
    else:
        raise ValueError(f"No event store for dialect {engine.dialect!r}.")


def _dedupe(batch: pa.Table) -> pa.Table:
    """Keep the first row of each (workspace_id, insert_id) in the batch (no id: always kept)."""
    seen: set[tuple[int, str]] = set()
    keep = []
    for ws, insert_id in zip(
        batch.column("workspace_id").to_pylist(), batch.column("insert_id").to_pylist(), strict=True
    ):
        key = (ws, insert_id)
        keep.append(insert_id is None or key not in seen)
        if insert_id is not None:
            seen.add(key)
    return batch.filter(pa.array(keep))


def _count(engine: Engine) -> int:
    return int(engine.execute(f"SELECT count(*) FROM {EVENTS_TABLE}", {})[0][0])  # noqa: S608


def _numbered(engine: Engine, batch: pa.Table) -> pa.Table:
    """Append ``id``: the batch's rows in order, after the largest id stored (one writer at a
    time keeps ids unique; concurrent writers could share one, and only ties would differ)."""
    stored = engine.execute(f"SELECT MAX(id) FROM {EVENTS_TABLE}", {})[0][0]  # noqa: S608
    first = int(stored or 0) + 1
    ids = pa.array(range(first, first + batch.num_rows), type=pa.int64())
    return batch.append_column(_ID_FIELD, ids)


def insert_events(engine: Engine, batch: pa.Table) -> int:
    """Insert events, skipping insert_ids already stored for the workspace; return rows added."""
    batch = _dedupe(batch)
    if batch.num_rows == 0:
        return 0
    batch = _numbered(engine, batch)
    before = _count(engine)
    if isinstance(engine, DuckDBEngine):
        with engine.registered("incoming_events", batch):
            engine.command(
                f"INSERT INTO {EVENTS_TABLE} SELECT i.* FROM incoming_events i "
                f"WHERE i.insert_id IS NULL OR NOT EXISTS (SELECT 1 FROM {EVENTS_TABLE} s "
                "WHERE s.workspace_id = i.workspace_id AND s.insert_id = i.insert_id)"
            )
    elif isinstance(engine, ChdbEngine | ClickHouseEngine):
        _insert_clickhouse(engine, batch)
    elif isinstance(engine, SparkEngine):
        engine.session.createDataFrame(batch.to_pandas()).createOrReplaceTempView("incoming_events")
        engine.command(
            f"INSERT INTO {EVENTS_TABLE} SELECT i.* FROM incoming_events i "
            f"LEFT ANTI JOIN {EVENTS_TABLE} s ON s.workspace_id = i.workspace_id "
            "AND s.insert_id = i.insert_id"
        )
    else:
        raise ValueError(f"No event store for dialect {engine.dialect!r}.")
    return _count(engine) - before


def _insert_clickhouse(engine: ChdbEngine | ClickHouseEngine, batch: pa.Table) -> None:
    """ClickHouse: stage the batch, then insert the rows whose insert_id is new."""
    engine.command("DROP TABLE IF EXISTS incoming_events")
    engine.command(
        "CREATE TABLE incoming_events (workspace_id Int64, event String, distinct_id String, "
        "timestamp_us Int64, insert_id Nullable(String), properties String, id Int64) "
        "ENGINE = Memory"
    )
    engine.insert_arrow("incoming_events", batch)
    engine.command(
        f"INSERT INTO {EVENTS_TABLE} SELECT * FROM incoming_events i WHERE i.insert_id IS NULL "
        f"OR (i.workspace_id, assumeNotNull(i.insert_id)) NOT IN (SELECT workspace_id, "
        f"assumeNotNull(insert_id) FROM {EVENTS_TABLE} WHERE insert_id IS NOT NULL)"
    )
    engine.command("DROP TABLE IF EXISTS incoming_events")


def insert_persons(engine: Engine, batch: pa.Table) -> None:
    """Insert (or replace) person rows."""
    if isinstance(engine, DuckDBEngine):
        with engine.registered("incoming_persons", batch):
            engine.command(
                f"DELETE FROM {PERSONS_TABLE} WHERE (workspace_id, distinct_id) IN "
                "(SELECT workspace_id, distinct_id FROM incoming_persons)"
            )
            engine.command(f"INSERT INTO {PERSONS_TABLE} SELECT * FROM incoming_persons")
    elif isinstance(engine, ChdbEngine | ClickHouseEngine):
        engine.insert_arrow(PERSONS_TABLE, batch)
        engine.command(f"OPTIMIZE TABLE {PERSONS_TABLE} FINAL")
    elif isinstance(engine, SparkEngine):
        engine.session.createDataFrame(batch.to_pandas()).write.mode("append").insertInto(
            PERSONS_TABLE
        )
    else:
        raise ValueError(f"No event store for dialect {engine.dialect!r}.")


def load_table(engine: Engine, name: str, table: pa.Table) -> None:
    """Create table ``name`` in ``engine`` holding ``table`` (Arrow), replacing any old one.

    For tables the engine's users already have (a warehouse's exposures, a benchmark's
    events); our own store's tables come from ``create_store``.
    """
    if isinstance(engine, DuckDBEngine):
        with engine.registered("incoming_table", table):
            engine.command(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming_table")
    elif isinstance(engine, ChdbEngine | ClickHouseEngine):
        engine.command(f"DROP TABLE IF EXISTS {name}")
        columns = ", ".join(
            f"{field.name} {_clickhouse_type(field.type)}" for field in table.schema
        )
        engine.command(f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
        engine.insert_arrow(name, table)
    elif isinstance(engine, SparkEngine):
        frame = engine.session.createDataFrame(table.to_pandas())
        frame.write.mode("overwrite").saveAsTable(name)
    else:
        raise ValueError(f"No tables for dialect {engine.dialect!r}.")


def _clickhouse_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return f"Nullable(DateTime64(6, '{arrow_type.tz or 'UTC'}'))"
    if pa.types.is_integer(arrow_type):
        return "Nullable(Int64)"
    if pa.types.is_floating(arrow_type):
        return "Nullable(Float64)"
    if pa.types.is_boolean(arrow_type):
        return "Nullable(Bool)"
    return "Nullable(String)"


def create_partials_store(engine: Engine) -> None:
    """Create the incremental refresh's tables (``metrics.engine.partials``) in an engine that
    holds the events (DuckDB; the app database has them from a migration). The scopes' state
    (watermark, fingerprints) stays in the app database."""
    if not isinstance(engine, DuckDBEngine):
        raise ValueError(f"No partial aggregates store for dialect {engine.dialect!r}.")
    values = ", ".join(f"{name} DOUBLE" for name in VALUE_COLUMNS)
    engine.command(
        f"CREATE TABLE IF NOT EXISTS {DAY_TABLE} (scope_id BIGINT, part SMALLINT, "
        "unit_id VARCHAR, rel_day INTEGER, slice_day INTEGER, cnt BIGINT, total DOUBLE, "
        "nvals BIGINT, min_rel_us BIGINT)"
    )
    engine.command(
        f"CREATE TABLE IF NOT EXISTS {UNIT_TABLE} (scope_id BIGINT, unit_id VARCHAR, "
        f"chunk SMALLINT, start_us BIGINT, {values})"
    )
    engine.command(
        f"CREATE TABLE IF NOT EXISTS {DIRTY_TABLE} (scope_id BIGINT, unit_id VARCHAR, "
        "start_us BIGINT, rebuild BOOLEAN)"
    )
