"""One workspace's events and persons in one event store, as a move between stores needs them:
read in batches by ``id`` (the order events were stored in), written with the store's own
insert_id dedupe, summarised for verification, and cleared.

``id`` is the key because it is the one order every store keeps: the app database's key, and
``max(id) + 1`` per batch in DuckDB and ClickHouse (``metrics.engines.store``). Copying in that
order keeps the relative order of events with equal timestamps (statements break such ties by
``id``), and "events stored after the copy began" is simply ``id`` above a high-water mark,
whatever their timestamps (clients may send events from the past).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from django.db import connection
from django.db.models import Count, Max, Min

from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE
from metrics.stores import (
    ClickHouseSink,
    DuckDBFolderSink,
    clickhouse_store,
    clickhouse_store_label,
    store_folder,
)
from plg_platform.models import Event, EventStore, Person
from plg_platform.services.ingestion import event_rows_store_app, properties_json

# (id, event, distinct_id, timestamp_us, insert_id, properties as JSON text)
MovedEvent = tuple[int, str, str, int, str | None, str]


@dataclass(frozen=True)
class Summary:
    """What must match between two stores holding the same events."""

    events: int
    first_us: int | None
    last_us: int | None
    with_insert_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "first_us": self.first_us,
            "last_us": self.last_us,
            "with_insert_id": self.with_insert_id,
        }


def _summary(row: Sequence[Any] | None) -> Summary:
    count, first, last, with_id = row if row else (0, 0, 0, 0)
    if not count:  # ClickHouse answers 0 for min/max of nothing
        return Summary(0, None, None, 0)
    return Summary(int(count), int(first or 0), int(last or 0), int(with_id or 0))


class StoreSide(Protocol):
    kind: str
    label: str

    def max_id(self, workspace_id: int) -> int: ...

    def events(
        self, workspace_id: int, after_id: int, upto_id: int | None, limit: int
    ) -> list[MovedEvent]: ...

    def summary(self, workspace_id: int, after_id: int, upto_id: int | None) -> Summary: ...

    def write_events(self, workspace_id: int, rows: Sequence[MovedEvent]) -> int: ...

    def persons(self, workspace_id: int, after: str, limit: int) -> list[tuple[str, str]]: ...

    def persons_count(self, workspace_id: int) -> int: ...

    def write_persons(self, workspace_id: int, rows: Sequence[tuple[str, str]]) -> None: ...

    def clear(self, workspace_id: int) -> None: ...


def _now_us() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1_000_000)


class AppSide:
    """The app database (SQLite or PostgreSQL): the ORM's tables."""

    kind: str = EventStore.APP

    def __init__(self) -> None:
        vendor = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(connection.vendor)
        self.label = f"the app database ({vendor or connection.vendor})"

    def _events(self, workspace_id: int, after_id: int, upto_id: int | None):
        events = Event.objects.filter(workspace_id=workspace_id, id__gt=after_id)
        return events if upto_id is None else events.filter(id__lte=upto_id)

    def max_id(self, workspace_id: int) -> int:
        found = Event.objects.filter(workspace_id=workspace_id).aggregate(m=Max("id"))["m"]
        return int(found or 0)

    def events(
        self, workspace_id: int, after_id: int, upto_id: int | None, limit: int
    ) -> list[MovedEvent]:
        rows = (
            self._events(workspace_id, after_id, upto_id)
            .order_by("id")
            .values_list("id", "event", "distinct_id", "timestamp_us", "insert_id", "properties")[
                :limit
            ]
        )
        return [(i, e, d, t, k, properties_json(p)) for i, e, d, t, k, p in rows]

    def summary(self, workspace_id: int, after_id: int, upto_id: int | None) -> Summary:
        found = self._events(workspace_id, after_id, upto_id).aggregate(
            n=Count("id"), lo=Min("timestamp_us"), hi=Max("timestamp_us"), k=Count("insert_id")
        )
        return _summary((found["n"], found["lo"], found["hi"], found["k"]))

    def write_events(self, workspace_id: int, rows: Sequence[MovedEvent]) -> int:
        return event_rows_store_app(
            workspace_id=workspace_id,
            rows=[(e, d, t, k, orjson.loads(p)) for _, e, d, t, k, p in rows],
            now=datetime.now(tz=UTC),
        )

    def persons(self, workspace_id: int, after: str, limit: int) -> list[tuple[str, str]]:
        rows = (
            Person.objects.filter(workspace_id=workspace_id, distinct_id__gt=after)
            .order_by("distinct_id")
            .values_list("distinct_id", "properties")[:limit]
        )
        return [(d, properties_json(p)) for d, p in rows]

    def persons_count(self, workspace_id: int) -> int:
        return Person.objects.filter(workspace_id=workspace_id).count()

    def write_persons(self, workspace_id: int, rows: Sequence[tuple[str, str]]) -> None:
        Person.objects.bulk_create(
            [
                Person(workspace_id=workspace_id, distinct_id=d, properties=orjson.loads(p))
                for d, p in rows
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )

    def clear(self, workspace_id: int) -> None:
        Event.objects.filter(workspace_id=workspace_id).delete()
        Person.objects.filter(workspace_id=workspace_id).delete()


_EVENT_COLUMNS = "id, event, distinct_id, timestamp_us, insert_id, properties"
_SUMMARY = "count(*), min(timestamp_us), max(timestamp_us), count(insert_id)"


class DuckDBSide:
    """A workspace's DuckDB store: Parquet parts in its folder, read with the folder locked."""

    kind: str = EventStore.DUCKDB

    def __init__(self, workspace_id: int) -> None:
        self.sink = DuckDBFolderSink()
        self.label = f"DuckDB store {store_folder(workspace_id)}"

    def _where(self, upto_id: int | None) -> str:
        upto = "" if upto_id is None else " AND id <= $upto"
        return f"workspace_id = $ws AND id > $after{upto}"

    def _params(self, workspace_id: int, after_id: int, upto_id: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"ws": workspace_id, "after": after_id}
        if upto_id is not None:
            params["upto"] = upto_id
        return params

    def max_id(self, workspace_id: int) -> int:
        rows = self.sink.query(
            workspace_id,
            "events",
            "SELECT coalesce(max(id), 0) FROM read_parquet($parts) WHERE workspace_id = $ws",
            {"ws": workspace_id},
        )
        return int(rows[0][0]) if rows else 0

    def events(
        self, workspace_id: int, after_id: int, upto_id: int | None, limit: int
    ) -> list[MovedEvent]:
        rows = self.sink.query(
            workspace_id,
            "events",
            f"SELECT {_EVENT_COLUMNS} FROM read_parquet($parts) "  # noqa: S608 - our names
            f"WHERE {self._where(upto_id)} ORDER BY id LIMIT $limit",
            {**self._params(workspace_id, after_id, upto_id), "limit": limit},
        )
        return [tuple(r) for r in rows]

    def summary(self, workspace_id: int, after_id: int, upto_id: int | None) -> Summary:
        rows = self.sink.query(
            workspace_id,
            "events",
            f"SELECT {_SUMMARY} FROM read_parquet($parts) WHERE {self._where(upto_id)}",  # noqa: S608
            self._params(workspace_id, after_id, upto_id),
        )
        return _summary(rows[0] if rows else None)

    def write_events(self, workspace_id: int, rows: Sequence[MovedEvent]) -> int:
        # The properties stay JSON text: the store's loader keeps text as it is.
        batch: list[Any] = [(e, d, t, k, p) for _, e, d, t, k, p in rows]
        return self.sink.write_events(workspace_id, batch, _now_us())

    def persons(self, workspace_id: int, after: str, limit: int) -> list[tuple[str, str]]:
        rows = self.sink.query(
            workspace_id,
            "persons",
            "SELECT distinct_id, arg_max(properties, written_us) FROM read_parquet($parts) "
            "WHERE workspace_id = $ws AND distinct_id > $after GROUP BY distinct_id "
            "ORDER BY distinct_id LIMIT $limit",
            {"ws": workspace_id, "after": after, "limit": limit},
        )
        return [(d, p) for d, p in rows]

    def persons_count(self, workspace_id: int) -> int:
        rows = self.sink.query(
            workspace_id,
            "persons",
            "SELECT count(DISTINCT distinct_id) FROM read_parquet($parts) WHERE workspace_id = $ws",
            {"ws": workspace_id},
        )
        return int(rows[0][0]) if rows else 0

    def write_persons(self, workspace_id: int, rows: Sequence[tuple[str, str]]) -> None:
        if rows:
            self.sink.write_persons(workspace_id, {d: json.loads(p) for d, p in rows})

    def clear(self, workspace_id: int) -> None:
        self.sink.clear(workspace_id)


class ClickHouseSide:
    """The ClickHouse store (a server, or chdb in this process): one table for all workspaces."""

    kind: str = EventStore.CLICKHOUSE

    def __init__(self) -> None:
        self.sink = ClickHouseSink()
        self.label = f"ClickHouse store {clickhouse_store_label()}"

    def _where(self, upto_id: int | None) -> str:
        upto = "" if upto_id is None else " AND id <= {upto:Int64}"
        return "workspace_id = {ws:Int64} AND id > {after:Int64}" + upto

    def _params(self, workspace_id: int, after_id: int, upto_id: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"ws": workspace_id, "after": after_id}
        if upto_id is not None:
            params["upto"] = upto_id
        return params

    def max_id(self, workspace_id: int) -> int:
        rows = clickhouse_store().execute(
            f"SELECT max(id) FROM {EVENTS_TABLE} WHERE workspace_id = {{ws:Int64}}",  # noqa: S608
            {"ws": workspace_id},
        )
        return int(rows[0][0] or 0) if rows else 0

    def events(
        self, workspace_id: int, after_id: int, upto_id: int | None, limit: int
    ) -> list[MovedEvent]:
        rows = clickhouse_store().execute(
            f"SELECT {_EVENT_COLUMNS} FROM {EVENTS_TABLE} "  # noqa: S608 - our names
            f"WHERE {self._where(upto_id)} ORDER BY id LIMIT {{limit:Int64}}",
            {**self._params(workspace_id, after_id, upto_id), "limit": limit},
        )
        return [(int(i), e, d, int(t), k, p) for i, e, d, t, k, p in rows]

    def summary(self, workspace_id: int, after_id: int, upto_id: int | None) -> Summary:
        rows = clickhouse_store().execute(
            f"SELECT {_SUMMARY} FROM {EVENTS_TABLE} WHERE {self._where(upto_id)}",  # noqa: S608
            self._params(workspace_id, after_id, upto_id),
        )
        return _summary(rows[0] if rows else None)

    def write_events(self, workspace_id: int, rows: Sequence[MovedEvent]) -> int:
        # The properties stay JSON text: the store's loader keeps text as it is.
        batch: list[Any] = [(e, d, t, k, p) for _, e, d, t, k, p in rows]
        return self.sink.write_events(workspace_id, batch, _now_us())

    def persons(self, workspace_id: int, after: str, limit: int) -> list[tuple[str, str]]:
        rows = clickhouse_store().execute(
            f"SELECT distinct_id, properties FROM {PERSONS_TABLE} FINAL "  # noqa: S608
            "WHERE workspace_id = {ws:Int64} AND distinct_id > {after:String} "
            "ORDER BY distinct_id LIMIT {limit:Int64}",
            {"ws": workspace_id, "after": after, "limit": limit},
        )
        return [(d, p) for d, p in rows]

    def persons_count(self, workspace_id: int) -> int:
        rows = clickhouse_store().execute(
            f"SELECT count() FROM {PERSONS_TABLE} FINAL WHERE workspace_id = {{ws:Int64}}",  # noqa: S608
            {"ws": workspace_id},
        )
        return int(rows[0][0]) if rows else 0

    def write_persons(self, workspace_id: int, rows: Sequence[tuple[str, str]]) -> None:
        if rows:
            self.sink.write_persons(workspace_id, {d: json.loads(p) for d, p in rows})

    def clear(self, workspace_id: int) -> None:
        self.sink.clear(workspace_id)


def store_side(kind: str, workspace_id: int) -> StoreSide:
    """The side of store ``kind`` (an ``EventStore`` value) for one workspace."""
    if kind == EventStore.DUCKDB:
        return DuckDBSide(workspace_id)
    if kind == EventStore.CLICKHOUSE:
        return ClickHouseSide()
    return AppSide()
