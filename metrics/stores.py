"""A workspace's own event store outside the app database: DuckDB over Parquet files, or
ClickHouse (a server, or chdb in-process for one-process setups and tests).

Ingestion hands validated events here when the workspace's ``event_store`` says so
(``plg_platform.event_sinks``); metrics, KPIs and experiment analyses then run on
``engine_for_workspace``. The tables keep the app database's names and columns, so every
compiled statement runs unchanged.

DuckDB: one folder per workspace (``METRICS_STORE_DIR/ws-<id>/``), events and persons as
Parquet parts. A DuckDB database file admits one writing process, but web workers write while
Celery workers read; immutable Parquet parts let every process read and write. A write takes
the folder's lock (exclusive), anti-joins the batch's insert_ids against the stored ones and
writes one new part; a read takes the lock shared, so a compaction (parts merged into one when
there are more than ``COMPACT_AFTER_PARTS``) is never seen half done.

ClickHouse: our two tables in one database, keyed by workspace as in the app database; the
insert anti-joins insert_ids (``metrics.engines.store``).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from django.conf import settings

from metrics.engine.event_tables import ExposureTable
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE
from metrics.engines.app_db import AppDatabaseEngine
from metrics.engines.base import Engine
from metrics.engines.clickhouse import ChdbEngine, ClickHouseEngine
from metrics.engines.duckdb import DuckDBEngine
from metrics.engines.store import (
    create_store,
    event_table,
    insert_events,
    insert_persons,
    person_table,
)
from plg_platform.event_sinks import EventQuery, EventRow, StoredEvent
from plg_platform.models import EventStore, Workspace

COMPACT_AFTER_PARTS = 64
EXPOSURE_EVENT = "$exposure"  # what the SDKs send (experiments.services.exposures)
EXPOSURES_VIEW = "plg_store_exposures"
_PERSON_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.int64()),
        ("distinct_id", pa.string()),
        ("properties", pa.string()),
        ("written_us", pa.int64()),
    ]
)


# --- DuckDB over Parquet parts ----------------------------------------------------------------
def store_folder(workspace_id: int) -> Path:
    return Path(settings.METRICS_STORE_DIR) / f"ws-{int(workspace_id)}"


@contextmanager
def _folder_lock(folder: Path, *, shared: bool) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parts(folder: Path, kind: str) -> list[str]:
    return sorted(str(p) for p in (folder / kind).glob("part-*.parquet"))


def _write_part(folder: Path, kind: str, table: pa.Table) -> None:
    """Write ``table`` as a new part: to a hidden file first, then renamed into place."""
    target = folder / kind
    target.mkdir(parents=True, exist_ok=True)
    name = f"part-{time.time_ns()}-{os.getpid()}-{threading.get_ident()}.parquet"
    hidden = target / f".{name}"
    pq.write_table(table, hidden)
    os.replace(hidden, target / name)


def _compact(folder: Path, kind: str) -> None:
    """Merge the parts of ``kind`` into one (called with the folder locked exclusively)."""
    parts = _parts(folder, kind)
    if len(parts) <= COMPACT_AFTER_PARTS:
        return
    _write_part(folder, kind, pq.ParquetDataset(parts).read())
    for part in parts:
        os.remove(part)


# --- reading events back (the events list, the home page) ------------------------------------
_TYPES = {
    "ws": "Int64",
    "event": "String",
    "distinct_id": "String",
    "after": "Int64",
    "before": "Int64",
    "since": "Int64",
    "limit": "Int64",
    "offset": "Int64",
}


def _mark(name: str, clickhouse: bool) -> str:
    return f"{{{name}:{_TYPES[name]}}}" if clickhouse else f"${name}"


def _filters(workspace_id: int, query: EventQuery, clickhouse: bool) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"ws": workspace_id}
    conditions = [f"workspace_id = {_mark('ws', clickhouse)}"]
    for name, column, op, value in (
        ("event", "event", "=", query.event),
        ("distinct_id", "distinct_id", "=", query.distinct_id),
        ("after", "timestamp_us", ">=", query.after_us),
        ("before", "timestamp_us", "<", query.before_us),
    ):
        if value is not None:
            conditions.append(f"{column} {op} {_mark(name, clickhouse)}")
            params[name] = value
    return " AND ".join(conditions), params


class _StoreReads:
    """The read side of a sink: the same statements on DuckDB and ClickHouse."""

    clickhouse = False

    def engine(self, workspace_id: int) -> Engine:
        raise NotImplementedError

    def events_count(self, workspace_id: int, query: EventQuery) -> int:
        where, params = _filters(workspace_id, query, self.clickhouse)
        rows = self.engine(workspace_id).execute(
            f"SELECT count(*) FROM {EVENTS_TABLE} WHERE {where}", params
        )
        return int(rows[0][0])

    def events_slice(
        self, workspace_id: int, query: EventQuery, offset: int, limit: int
    ) -> list[StoredEvent]:
        where, params = _filters(workspace_id, query, self.clickhouse)
        params.update(limit=int(limit), offset=int(offset))
        rows = self.engine(workspace_id).execute(
            f"SELECT event, distinct_id, timestamp_us, insert_id, properties FROM {EVENTS_TABLE} "
            f"WHERE {where} ORDER BY timestamp_us DESC, insert_id DESC "
            f"LIMIT {_mark('limit', self.clickhouse)} OFFSET {_mark('offset', self.clickhouse)}",
            params,
        )
        return [
            StoredEvent(
                event=event,
                distinct_id=distinct_id,
                timestamp_us=int(t),
                insert_id=insert_id,
                properties=json.loads(properties) if properties else {},
            )
            for event, distinct_id, t, insert_id, properties in rows
        ]

    def events_overview(self, workspace_id: int, since_us: int) -> tuple[int | None, int, int]:
        ch = self.clickhouse
        rows = self.engine(workspace_id).execute(
            f"SELECT max(timestamp_us), "
            f"sum(CASE WHEN timestamp_us >= {_mark('since', ch)} THEN 1 ELSE 0 END), "
            f"count(DISTINCT CASE WHEN timestamp_us >= {_mark('since', ch)} THEN distinct_id END) "
            f"FROM {EVENTS_TABLE} WHERE workspace_id = {_mark('ws', ch)}",
            {"ws": workspace_id, "since": since_us},
        )
        latest, events, users = rows[0] if rows else (None, 0, 0)
        if latest is None or (ch and not events and not latest):
            return None, 0, 0
        return int(latest), int(events or 0), int(users or 0)


class DuckDBFolderSink(_StoreReads):
    """The ``plg_platform.event_sinks`` sink of workspaces whose store is DuckDB."""

    def write_events(self, workspace_id: int, rows: Sequence[EventRow], received_us: int) -> int:
        batch = event_table(
            (workspace_id, event, distinct_id, t, insert_id, properties)
            for event, distinct_id, t, insert_id, properties in rows
        )
        folder = store_folder(workspace_id)
        with _folder_lock(folder, shared=False):
            con = duckdb.connect()
            try:
                con.register("incoming", _first_per_insert_id(batch))
                stored = _parts(folder, "events")
                # ``id`` numbers events in stored order, as the app database's key does (KPI
                # statements break timestamp ties by it); the folder's lock makes it unique.
                first = (
                    con.execute(
                        "SELECT coalesce(max(id), 0) FROM read_parquet($parts)", {"parts": stored}
                    ).fetchall()[0][0]
                    if stored
                    else 0
                )
                new = con.execute(
                    "SELECT i.*, $first + row_number() OVER () AS id FROM incoming i "
                    "WHERE i.insert_id IS NULL OR NOT EXISTS "
                    "(SELECT 1 FROM read_parquet($parts) s WHERE s.insert_id = i.insert_id)"
                    if stored
                    else "SELECT i.*, $first + row_number() OVER () AS id FROM incoming i",
                    {"parts": stored, "first": first} if stored else {"first": first},
                ).to_arrow_table()
            finally:
                con.close()
            assert new is not None  # a SELECT always gives a table
            if new.num_rows:
                _write_part(folder, "events", new)
                _compact(folder, "events")
        return int(new.num_rows)

    def write_persons(self, workspace_id: int, traits: Mapping[str, Mapping[str, Any]]) -> int:
        folder = store_folder(workspace_id)
        with _folder_lock(folder, shared=False):
            current = _current_persons(folder, list(traits))
            now = time.time_ns() // 1000
            table = pa.table(
                {
                    "workspace_id": [workspace_id] * len(traits),
                    "distinct_id": list(traits),
                    "properties": [
                        json.dumps({**current.get(d, {}), **props}) for d, props in traits.items()
                    ],
                    "written_us": [now] * len(traits),
                },
                schema=_PERSON_SCHEMA,
            )
            _write_part(folder, "persons", table)
            _compact(folder, "persons")
        return len(traits)

    def has_events(self, workspace_id: int) -> bool:
        return bool(_parts(store_folder(workspace_id), "events"))

    def clear(self, workspace_id: int) -> None:
        """Remove every event and person part of the workspace (a move into this store starts
        from nothing, so a rerun never stores an event twice)."""
        folder = store_folder(workspace_id)
        with _folder_lock(folder, shared=False):
            for kind in ("events", "persons"):
                for part in (folder / kind).glob("*part-*.parquet"):
                    part.unlink()

    def query(
        self, workspace_id: int, kind: str, sql: str, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` over the workspace's parts of ``kind`` (``read_parquet($parts)``) with
        the folder locked shared, so a compaction never removes a part mid-read; no parts, no
        rows."""
        folder = store_folder(workspace_id)
        with _folder_lock(folder, shared=True):
            parts = _parts(folder, kind)
            if not parts:
                return []
            con = duckdb.connect()
            try:
                return con.execute(sql, {**params, "parts": parts}).fetchall()
            finally:
                con.close()

    def engine(self, workspace_id: int) -> Engine:
        return DuckDBFolderEngine(store=str(store_folder(workspace_id)))


def _first_per_insert_id(batch: pa.Table) -> pa.Table:
    seen: set[str] = set()
    keep = []
    for insert_id in batch.column("insert_id").to_pylist():
        keep.append(insert_id is None or insert_id not in seen)
        if insert_id is not None:
            seen.add(insert_id)
    return batch.filter(pa.array(keep))


def _current_persons(folder: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    parts = _parts(folder, "persons")
    if not parts:
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT distinct_id, arg_max(properties, written_us) FROM read_parquet($parts) "
            "WHERE distinct_id IN (SELECT unnest($ids)) GROUP BY distinct_id",
            {"parts": parts, "ids": ids},
        ).fetchall()
    finally:
        con.close()
    return {distinct_id: json.loads(text) for distinct_id, text in rows}


def _paths(parts: list[str]) -> str:
    """A list literal of our own part paths (views take no parameters)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in parts) + "]"


@dataclass
class DuckDBFolderEngine(DuckDBEngine):
    """DuckDB in memory over one workspace's Parquet parts; reads hold the folder's lock."""

    store: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or f"DuckDB store {self.store}"
        super().__post_init__()
        folder = Path(self.store)
        with _folder_lock(folder, shared=True):
            events, persons = _parts(folder, "events"), _parts(folder, "persons")
        self.command(
            f"CREATE VIEW {EVENTS_TABLE} AS SELECT * FROM read_parquet({_paths(events)})"
            if events
            else f"CREATE TABLE {EVENTS_TABLE} (workspace_id BIGINT, event VARCHAR, "
            "distinct_id VARCHAR, timestamp_us BIGINT, insert_id VARCHAR, properties VARCHAR, "
            "id BIGINT)"
        )
        self.command(
            f"CREATE VIEW {PERSONS_TABLE} AS SELECT workspace_id, distinct_id, "
            "arg_max(properties, written_us) AS properties "
            f"FROM read_parquet({_paths(persons)}) GROUP BY workspace_id, distinct_id"
            if persons
            else f"CREATE TABLE {PERSONS_TABLE} (workspace_id BIGINT, distinct_id VARCHAR, "
            "properties VARCHAR)"
        )

        self.command(
            f"CREATE VIEW {EXPOSURES_VIEW} AS SELECT workspace_id, "
            "json_extract_string(properties, '$.experiment') AS experiment_id, "
            "json_extract_string(properties, '$.variant') AS variation_id, "
            f"distinct_id AS user_id, timestamp_us FROM {EVENTS_TABLE} "
            f"WHERE event = '{EXPOSURE_EVENT}'"
        )

    def _run(self, sql: str, params: Mapping[str, Any]):
        with _folder_lock(Path(self.store), shared=True):
            return super()._run(sql, params)


# --- ClickHouse ----------------------------------------------------------------------------------
_CLICKHOUSE: dict[str, Engine] = {}
_CLICKHOUSE_LOCK = threading.Lock()


def clickhouse_store() -> Engine:
    """The process's ClickHouse store engine (``METRICS_CLICKHOUSE_URL``), tables created.

    ``chdb:///path`` runs ClickHouse in-process on a data folder (one process only: tests,
    a single-process setup); ``http(s)://user:password@host:port/database`` is a server.
    """
    url = settings.METRICS_CLICKHOUSE_URL
    if not url:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("METRICS_CLICKHOUSE_URL is not set: no ClickHouse store.")
    with _CLICKHOUSE_LOCK:
        if url not in _CLICKHOUSE:
            parts = urlparse(url)
            engine: ChdbEngine | ClickHouseEngine
            if parts.scheme == "chdb":
                engine = ChdbEngine(path=parts.path)
            else:
                engine = ClickHouseEngine(
                    host=parts.hostname or "localhost",
                    port=parts.port or (8443 if parts.scheme == "https" else 8123),
                    username=unquote(parts.username or "default"),
                    password=unquote(parts.password or ""),
                    database=parts.path.strip("/") or "default",
                    secure=parts.scheme == "https",
                )
            create_store(engine)
            engine.command(
                f"CREATE VIEW IF NOT EXISTS {EXPOSURES_VIEW} AS SELECT workspace_id, "
                "JSONExtractString(properties, 'experiment') AS experiment_id, "
                "JSONExtractString(properties, 'variant') AS variation_id, "
                f"distinct_id AS user_id, timestamp_us FROM {EVENTS_TABLE} "
                f"WHERE event = '{EXPOSURE_EVENT}'"
            )
            _CLICKHOUSE[url] = engine
        return _CLICKHOUSE[url]


class ClickHouseSink(_StoreReads):
    """The ``plg_platform.event_sinks`` sink of workspaces whose store is ClickHouse."""

    clickhouse = True

    def engine(self, workspace_id: int) -> Engine:
        return clickhouse_store()

    def write_events(self, workspace_id: int, rows: Sequence[EventRow], received_us: int) -> int:
        batch = event_table(
            (workspace_id, event, distinct_id, t, insert_id, properties)
            for event, distinct_id, t, insert_id, properties in rows
        )
        return insert_events(clickhouse_store(), batch)

    def write_persons(self, workspace_id: int, traits: Mapping[str, Mapping[str, Any]]) -> int:
        engine = clickhouse_store()
        current = {
            distinct_id: json.loads(text)
            for distinct_id, text in engine.execute(
                f"SELECT distinct_id, properties FROM {PERSONS_TABLE} FINAL "  # noqa: S608
                "WHERE workspace_id = {ws:Int64} "
                "AND has(JSONExtract({ids:String}, 'Array(String)'), distinct_id)",
                {"ws": workspace_id, "ids": json.dumps(list(traits))},
            )
        }
        insert_persons(
            engine,
            person_table(
                (workspace_id, d, json.dumps({**current.get(d, {}), **props}))
                for d, props in traits.items()
            ),
        )
        return len(traits)

    def has_events(self, workspace_id: int) -> bool:
        rows = clickhouse_store().execute(
            f"SELECT count() FROM {EVENTS_TABLE} WHERE workspace_id = {{ws:Int64}}",  # noqa: S608
            {"ws": workspace_id},
        )
        return bool(rows and int(rows[0][0]))

    def clear(self, workspace_id: int) -> None:
        """Delete the workspace's events and persons (synchronously: the mutation is done when
        this returns), so a move into this store starts from nothing."""
        engine = clickhouse_store()
        assert isinstance(engine, ChdbEngine | ClickHouseEngine)
        for table in (EVENTS_TABLE, PERSONS_TABLE):
            engine.command(
                f"ALTER TABLE {table} DELETE WHERE workspace_id = {int(workspace_id)} "
                "SETTINGS mutations_sync = 2"
            )


def clickhouse_store_label() -> str:
    """The ClickHouse store's URL without its password, to name it in messages."""
    parts = urlparse(settings.METRICS_CLICKHOUSE_URL)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def store_exposures(experiment_key: str) -> ExposureTable:
    """An experiment's exposures in a routed store: the ``$exposure`` events the SDKs sent."""
    return ExposureTable(
        table=EXPOSURES_VIEW,
        experiment_id=experiment_key,
        unit_column="user_id",
        timestamp_column="timestamp_us",
        time_type="micros",
        workspace_column="workspace_id",
    )


# --- for the metric layer's callers --------------------------------------------------------------
def engine_for_workspace(workspace: Workspace) -> Engine:
    """The engine holding the workspace's events (the app database unless routed)."""
    if workspace.event_store == EventStore.DUCKDB:
        return DuckDBFolderEngine(store=str(store_folder(workspace.pk)))
    if workspace.event_store == EventStore.CLICKHOUSE:
        return clickhouse_store()
    return AppDatabaseEngine()


def clickhouse_store_close() -> None:
    """Close the process's ClickHouse store engines (chdb holds one data folder at a time)."""
    with _CLICKHOUSE_LOCK:
        for engine in _CLICKHOUSE.values():
            engine.close()
        _CLICKHOUSE.clear()
