"""Our event store inside an engine: the same two tables as the app database
(``plg_platform_event``, ``plg_platform_person``) in DuckDB, ClickHouse or Spark, so the same
statements run there unchanged. Properties are JSON text.

Loading keeps the app database's rule that an ``insert_id`` is stored once per workspace:
rows whose (workspace, insert_id) is already stored, or repeated within the batch, are skipped
(an anti-join on insert; ClickHouse's table is also a ReplacingMergeTree on that key).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from metrics.engine.partials.layout import DAY_TABLE, DIRTY_TABLE, UNIT_TABLE, VALUE_COLUMNS
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE
from metrics.engines.base import Engine

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
    if engine.dialect == "duckdb":
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id BIGINT, event VARCHAR, "
            "distinct_id VARCHAR, timestamp_us BIGINT, insert_id VARCHAR, properties VARCHAR)"
        )
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {PERSONS_TABLE} (workspace_id BIGINT, "
            "distinct_id VARCHAR, properties VARCHAR)"
        )
    elif engine.dialect == "clickhouse":
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id Int64, event String, "
            "distinct_id String, timestamp_us Int64, insert_id Nullable(String), "
            "properties String) ENGINE = MergeTree "
            "ORDER BY (workspace_id, event, distinct_id, timestamp_us)"
        )
        engine.command(
            f"CREATE TABLE IF NOT EXISTS {PERSONS_TABLE} (workspace_id Int64, "
            "distinct_id String, properties String) ENGINE = ReplacingMergeTree "
            "ORDER BY (workspace_id, distinct_id)"
        )
    elif engine.dialect == "spark":
        engine.session.sql(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (workspace_id BIGINT, event STRING, "
            "distinct_id STRING, timestamp_us BIGINT, insert_id STRING, properties STRING) "
            "USING parquet"
        )
        engine.session.sql(
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


def insert_events(engine: Engine, batch: pa.Table) -> int:
    """Insert events, skipping insert_ids already stored for the workspace; return rows added."""
    batch = _dedupe(batch)
    if engine.dialect == "duckdb":
        con = engine.connection
        before = con.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchall()[0][0]
        con.register("incoming_events", batch)
        try:
            engine.command(
                f"INSERT INTO {EVENTS_TABLE} SELECT i.* FROM incoming_events i "
                f"WHERE i.insert_id IS NULL OR NOT EXISTS (SELECT 1 FROM {EVENTS_TABLE} s "
                "WHERE s.workspace_id = i.workspace_id AND s.insert_id = i.insert_id)"
            )
        finally:
            con.unregister("incoming_events")
        return con.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchall()[0][0] - before
    if engine.dialect == "clickhouse":
        return _insert_clickhouse(engine, batch)
    if engine.dialect == "spark":
        frame = engine.session.createDataFrame(batch.to_pandas())
        frame.createOrReplaceTempView("incoming_events")
        engine.session.sql(
            f"INSERT INTO {EVENTS_TABLE} SELECT i.* FROM incoming_events i "
            f"LEFT ANTI JOIN {EVENTS_TABLE} s ON s.workspace_id = i.workspace_id "
            "AND s.insert_id = i.insert_id"
        )
        return batch.num_rows
    raise ValueError(f"No event store for dialect {engine.dialect!r}.")


def _insert_clickhouse(engine: Engine, batch: pa.Table) -> int:
    """ClickHouse: stage the batch, then insert the rows whose insert_id is new."""
    if batch.num_rows == 0:
        return 0
    engine.command("DROP TABLE IF EXISTS incoming_events")
    engine.command(
        "CREATE TABLE incoming_events (workspace_id Int64, event String, distinct_id String, "
        "timestamp_us Int64, insert_id Nullable(String), properties String) ENGINE = Memory"
    )
    if hasattr(engine, "session"):  # chdb: insert the Arrow batch through Python()
        _chdb_insert(engine, batch)
    else:
        engine.client.insert_arrow("incoming_events", batch)
    before = int(engine.execute(f"SELECT count() FROM {EVENTS_TABLE}", {})[0][0])
    engine.command(
        f"INSERT INTO {EVENTS_TABLE} SELECT * FROM incoming_events i WHERE i.insert_id IS NULL "
        f"OR (i.workspace_id, assumeNotNull(i.insert_id)) NOT IN (SELECT workspace_id, "
        f"assumeNotNull(insert_id) FROM {EVENTS_TABLE} WHERE insert_id IS NOT NULL)"
    )
    engine.command("DROP TABLE IF EXISTS incoming_events")
    return int(engine.execute(f"SELECT count() FROM {EVENTS_TABLE}", {})[0][0]) - before


def _chdb_insert(engine: Engine, batch: pa.Table) -> None:
    """chdb reads a Python Arrow table by variable name through the Python() table function."""
    staged = batch  # noqa: F841  (read by name by chdb's Python() table function)
    engine.session.query("INSERT INTO incoming_events SELECT * FROM Python(staged)")


def insert_persons(engine: Engine, batch: pa.Table) -> None:
    """Insert (or, in ClickHouse, replace) person rows."""
    if engine.dialect == "duckdb":
        engine.connection.register("incoming_persons", batch)
        try:
            engine.command(
                f"DELETE FROM {PERSONS_TABLE} WHERE (workspace_id, distinct_id) IN "
                "(SELECT workspace_id, distinct_id FROM incoming_persons)"
            )
            engine.command(f"INSERT INTO {PERSONS_TABLE} SELECT * FROM incoming_persons")
        finally:
            engine.connection.unregister("incoming_persons")
    elif engine.dialect == "clickhouse":
        staged = batch  # noqa: F841  (read by name by chdb's Python() table function)
        if hasattr(engine, "session"):
            engine.session.query(f"INSERT INTO {PERSONS_TABLE} SELECT * FROM Python(staged)")
        else:
            engine.client.insert_arrow(PERSONS_TABLE, batch)
        engine.command(f"OPTIMIZE TABLE {PERSONS_TABLE} FINAL")
    elif engine.dialect == "spark":
        frame = engine.session.createDataFrame(batch.to_pandas())
        frame.write.mode("append").insertInto(PERSONS_TABLE)
    else:
        raise ValueError(f"No event store for dialect {engine.dialect!r}.")


def create_partials_store(engine: Engine) -> None:
    """Create the incremental refresh's tables (``metrics.engine.partials``) in an engine that
    holds the events (DuckDB; the app database has them from a migration). The scopes' state
    (watermark, fingerprints) stays in the app database."""
    if engine.dialect != "duckdb":
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
