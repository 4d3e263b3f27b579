"""Where a workspace's events are stored: the app database (the default) or a columnar store.

A workspace whose ``event_store`` is not the app database hands its validated events and
person traits to a sink registered for that kind; the metric layer registers its DuckDB and
ClickHouse stores when it loads (``metrics.apps``), so this app never imports the metric layer
(it sits below it). Every sink keeps the app database's rule: an ``insert_id`` is stored once
per workspace, and the count it returns is what was really added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

# (event, distinct_id, timestamp_us, insert_id, properties), as validated by ingestion.
EventRow = tuple[str, str, int, str | None, dict[str, Any]]


@dataclass(frozen=True)
class EventQuery:
    """Filters of the events list: all optional; times are microseconds, ``before`` exclusive."""

    event: str | None = None
    distinct_id: str | None = None
    after_us: int | None = None
    before_us: int | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event read back from a columnar store (it has no app-database ``id``)."""

    event: str
    distinct_id: str
    timestamp_us: int
    insert_id: str | None
    properties: dict[str, Any]
    id: None = None


class EventSink(Protocol):
    def write_events(self, workspace_id: int, rows: Sequence[EventRow], received_us: int) -> int:
        """Store the rows whose insert_id is new for the workspace; return how many."""

    def write_persons(self, workspace_id: int, traits: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge traits into the persons' properties (later keys win); return persons written."""

    def has_events(self, workspace_id: int) -> bool:
        """Whether the workspace has stored any event."""

    def events_count(self, workspace_id: int, query: EventQuery) -> int:
        """How many events match ``query``."""

    def events_slice(
        self, workspace_id: int, query: EventQuery, offset: int, limit: int
    ) -> list[StoredEvent]:
        """The matching events, newest first, from ``offset``."""

    def events_overview(self, workspace_id: int, since_us: int) -> tuple[int | None, int, int]:
        """(latest event time or None, events since ``since_us``, distinct ids since then)."""


class StoreEvents:
    """The events list of a routed workspace, lazily, as the API paginator and pages use a
    queryset: ``count()``, ``exists()`` and slices run one statement each in the store."""

    def __init__(self, sink: EventSink, workspace_id: int, query: EventQuery) -> None:
        self.sink, self.workspace_id, self.query = sink, workspace_id, query

    def count(self) -> int:
        return self.sink.events_count(self.workspace_id, self.query)

    def exists(self) -> bool:
        return bool(self.sink.events_slice(self.workspace_id, self.query, 0, 1))

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item: slice) -> list[StoredEvent]:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("StoreEvents supports slices only")
        start = item.start or 0
        stop = item.stop if item.stop is not None else start + 1000
        return self.sink.events_slice(self.workspace_id, self.query, start, max(stop - start, 0))


_SINKS: dict[str, EventSink] = {}


def sink_register(kind: str, sink: EventSink) -> None:
    _SINKS[kind] = sink


def sink_for(kind: str) -> EventSink:
    try:
        return _SINKS[kind]
    except KeyError:
        raise ImproperlyConfigured(f"No event store is registered for {kind!r}.") from None
