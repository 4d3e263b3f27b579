"""Where a workspace's events are stored: the app database (the default) or a columnar store.

A workspace whose ``event_store`` is not the app database hands its validated events and
person traits to a sink registered for that kind; the metric layer registers its DuckDB and
ClickHouse stores when it loads (``metrics.apps``), so this app never imports the metric layer
(it sits below it). Every sink keeps the app database's rule: an ``insert_id`` is stored once
per workspace, and the count it returns is what was really added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

# (event, distinct_id, timestamp_us, insert_id, properties), as validated by ingestion.
EventRow = tuple[str, str, int, str | None, dict[str, Any]]


class EventSink(Protocol):
    def write_events(self, workspace_id: int, rows: Sequence[EventRow], received_us: int) -> int:
        """Store the rows whose insert_id is new for the workspace; return how many."""

    def write_persons(self, workspace_id: int, traits: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge traits into the persons' properties (later keys win); return persons written."""

    def has_events(self, workspace_id: int) -> bool:
        """Whether the workspace has stored any event."""


_SINKS: dict[str, EventSink] = {}


def sink_register(kind: str, sink: EventSink) -> None:
    _SINKS[kind] = sink


def sink_for(kind: str) -> EventSink:
    try:
        return _SINKS[kind]
    except KeyError:
        raise ImproperlyConfigured(f"No event store is registered for {kind!r}.") from None
