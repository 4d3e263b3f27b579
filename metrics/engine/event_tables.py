"""Where a statement reads events from: the column mapping of an event table.

The app database's event store is one mapping (``APP_EVENTS``); an engine's own store uses the
same tables; a warehouse table the team already has is another mapping, with its own column
names, a TIMESTAMP or integer time column, and properties in a JSON column or typed columns.
Pure values: the compiler turns them into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE

TIME_TYPES = ("micros", "millis", "seconds", "timestamp")


@dataclass(frozen=True)
class EventTable:
    """An event table and the columns that hold each part of an event.

    ``time_type`` says how ``timestamp_column`` holds time: integer microseconds, milliseconds
    or seconds since the epoch, or a TIMESTAMP (UTC). Properties come from the JSON text column
    ``properties_column`` (empty if none) and from ``property_columns``: ``(property, column)``
    pairs of typed columns, which win over the JSON column. ``workspace_column`` is set only for
    stores shared by workspaces (ours); a warehouse table belongs to one workspace's source.
    ``persons_table`` holds person properties (account ids, segments) where there is one.
    """

    table: str = EVENTS_TABLE
    event_column: str = "event"
    unit_column: str = "distinct_id"
    timestamp_column: str = "timestamp_us"
    time_type: str = "micros"
    properties_column: str = "properties"
    property_columns: tuple[tuple[str, str], ...] = ()
    workspace_column: str = "workspace_id"
    persons_table: str = PERSONS_TABLE

    def typed_column(self, prop: str) -> str:
        """Return the typed column holding property ``prop``, or '' if it is in the JSON."""
        return dict(self.property_columns).get(prop, "")


APP_EVENTS = EventTable()


@dataclass(frozen=True)
class ExposureTable:
    """A warehouse exposure table, one row per exposure (GrowthBook's shape by default).

    The population is each unit's first exposure to ``experiment_id``; units exposed to more
    than one variation are left out (and counted), as with our own exposures.
    """

    table: str
    experiment_id: str
    experiment_column: str = "experiment_id"
    variation_column: str = "variation_id"
    unit_column: str = "user_id"
    timestamp_column: str = "timestamp"
    time_type: str = "timestamp"
    workspace_column: str = ""  # set only for a store shared by workspaces (ours)
