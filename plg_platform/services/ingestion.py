"""Event ingestion: validate each event, drop duplicates by ``insert_id``, write in bulk.

All entry points (the native batch API, the Segment-compatible API, server-side exposures, the
demo writer and the import command) end here, so validation, deduplication and storage behave
the same everywhere. A batch is written by one statement: on PostgreSQL its rows travel as one
JSON array that the server expands itself (about the cost of COPY, without adapting thousands of
parameters in Python); elsewhere as one ``executemany``. Both insert with ``ON CONFLICT DO
NOTHING`` on the (workspace, insert_id) unique index, so a duplicate (within the batch, of an
earlier batch, or from a concurrent retry) is stored once and counted exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from plg_platform.event_sinks import EventRow, sink_for
from plg_platform.json_values import INVALID_UNICODE, NUL_CHARACTER
from plg_platform.models import Event, EventStore, Person, Workspace
from plg_platform.services.event_input import EventInput, errors_by_field

__all__ = [
    "EVENT_NOT_AN_OBJECT",
    "INVALID_UNICODE",
    "NUL_CHARACTER",
    "TIMESTAMP_IN_FUTURE",
    "EventInput",
    "IngestResult",
    "event_rows_store",
    "events_ingest",
    "events_store",
    "validate_events",
]

TIMESTAMP_IN_FUTURE = "Timestamp is more than {hours} hours in the future."
EVENT_NOT_AN_OBJECT = "Each event must be a JSON object."

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

"""A validated event as stored: name, distinct id, epoch microseconds, insert id, properties."""

# One validator call for a whole batch: pydantic's core walks the list without a Python loop.
_EVENT_LIST = TypeAdapter(list[EventInput])


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: IngestResult, *, index_offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend({**r, "index": r["index"] + index_offset} for r in other.rejected)

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def to_epoch_us(moment: datetime) -> int:
    """Return microseconds since the Unix epoch of an aware datetime, exactly (no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def properties_json(properties: Mapping[str, Any]) -> str:
    """Serialise properties to compact JSON text, keeping every JSON type as it came.

    orjson is the fast path; integers beyond 64 bits (valid JSON, stored exactly by jsonb and
    SQLite) fall back to the standard library. Raise ``TypeError`` or ``ValueError`` for values
    JSON cannot hold.
    """
    try:
        return orjson.dumps(properties).decode()
    except TypeError:
        return json.dumps(properties, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _row(event: EventInput) -> EventRow:
    return (
        event.event,
        event.distinct_id,
        to_epoch_us(event.timestamp),
        event.insert_id,
        event.properties,
    )


def _validate_objects(
    objects: list[tuple[int, Mapping[str, Any]]], rejected: list[dict[str, Any]]
) -> list[tuple[int, EventRow]]:
    """Validate the batch in one call; if anything is invalid, go event by event for the
    per-index errors (the rare path)."""
    try:
        events = _EVENT_LIST.validate_python([raw for _, raw in objects])
    except PydanticValidationError:
        checked = []
        for index, raw in objects:
            try:
                checked.append((index, _row(EventInput.model_validate(raw))))
            except PydanticValidationError as exc:
                rejected.append({"index": index, "errors": errors_by_field(exc)})
        return checked
    return [(index, _row(event)) for (index, _), event in zip(objects, events, strict=True)]


def validate_events(
    raw_events: Sequence[Any], *, now: datetime
) -> tuple[list[tuple[int, EventRow]], list[dict[str, Any]]]:
    """Split raw events into valid rows (with their index) and rejections naming the field."""
    horizon_us = to_epoch_us(now) + settings.INGESTION_MAX_FUTURE_SECONDS * 1_000_000
    rejected: list[dict[str, Any]] = []
    objects: list[tuple[int, Mapping[str, Any]]] = []
    for index, raw in enumerate(raw_events):
        if isinstance(raw, Mapping):
            objects.append((index, raw))
        else:
            rejected.append({"index": index, "errors": {"event": [EVENT_NOT_AN_OBJECT]}})
    checked = _validate_objects(objects, rejected)
    valid: list[tuple[int, EventRow]] = []
    for index, row in checked:
        if row[2] > horizon_us:
            hours = settings.INGESTION_MAX_FUTURE_SECONDS // 3600
            message = TIMESTAMP_IN_FUTURE.format(hours=hours)
            rejected.append({"index": index, "errors": {"timestamp": [message]}})
        else:
            valid.append((index, row))
    rejected.sort(key=lambda r: r["index"])
    return valid, rejected


def events_ingest(
    *, workspace: Workspace, raw_events: Sequence[Any], now: datetime | None = None
) -> IngestResult:
    """Validate and store a batch of events; return what was accepted, duplicated, rejected.

    Valid events are stored even when others in the batch are rejected (each rejection is
    reported by index), so one bad event never costs a client the rest of its batch. A retry
    with the same ``insert_id`` is stored once.
    """
    now = now or datetime.now(tz=UTC)
    valid, rejected = validate_events(raw_events, now=now)
    result = IngestResult(rejected=rejected)
    event_rows_store(workspace=workspace, rows=[row for _, row in valid], result=result, now=now)
    return result


def events_store(
    *,
    workspace: Workspace,
    events: Sequence[EventInput],
    result: IngestResult,
    now: datetime | None = None,
) -> None:
    """Store events built in Python in bulk, counting accepted and duplicate ones."""
    rows = [
        (e.event, e.distinct_id, to_epoch_us(e.timestamp), e.insert_id, e.properties)
        for e in events
    ]
    event_rows_store(workspace=workspace, rows=rows, result=result, now=now)


def event_rows_store(
    *,
    workspace: Workspace,
    rows: Sequence[EventRow],
    result: IngestResult,
    now: datetime | None = None,
) -> None:
    """Store validated rows in one statement, counting accepted and duplicate ones.

    A row whose ``insert_id`` is already stored, or appears earlier in ``rows``, is skipped by
    the unique index and counted as a duplicate; a concurrent retry of the same batch can
    neither store a second copy nor be counted as accepted twice. ``now`` is the receipt time.
    """
    if not rows:
        return
    now = now or datetime.now(tz=UTC)
    if workspace.event_store != EventStore.APP:
        inserted = sink_for(workspace.event_store).write_events(
            workspace.pk, rows, to_epoch_us(now)
        )
        result.accepted += inserted
        result.duplicates += len(rows) - inserted
        return
    inserted = event_rows_store_app(workspace_id=workspace.pk, rows=rows, now=now)
    result.accepted += inserted
    result.duplicates += len(rows) - inserted


def event_rows_store_app(*, workspace_id: int, rows: Sequence[EventRow], now: datetime) -> int:
    """Store rows in the app database whatever the workspace's store (moving a workspace's
    events back here uses it); skip insert_ids already stored; return how many were added."""
    received_at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _insert_postgresql(workspace_id, rows, received_at)
        return _insert_many(workspace_id, rows, received_at)


def _event_columns() -> tuple[str, str]:
    """Return the quoted event table and its insert column list."""
    meta = Event._meta
    names = ["workspace", "event", "distinct_id", "timestamp_us", "insert_id", "properties"]
    columns = [meta.get_field(name).column for name in [*names, "received_at"]]
    quote = connection.ops.quote_name
    return quote(meta.db_table), ", ".join(quote(c) for c in columns)


def _on_conflict() -> str:
    """The conflict target of ``event_unique_insert_id`` (a partial unique index)."""
    quote = connection.ops.quote_name
    workspace = quote(Event._meta.get_field("workspace").column)
    insert_id = quote(Event._meta.get_field("insert_id").column)
    return f"ON CONFLICT ({workspace}, {insert_id}) WHERE {insert_id} IS NOT NULL DO NOTHING"


def _insert_postgresql(workspace_id: int, rows: Sequence[EventRow], received_at: Any) -> int:
    """Insert the rows as one JSON array parameter, each row an array in ``EventRow`` order;
    PostgreSQL parses it (properties included) straight into rows."""
    try:
        payload = orjson.dumps(rows).decode()
    except TypeError:  # an integer beyond 64 bits somewhere: the exact, slower path
        payload = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    table, columns = _event_columns()
    statement = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model, values bound
        "SELECT %s, r->>0, r->>1, (r->>2)::bigint, r->>3, r->4, %s "
        f"FROM jsonb_array_elements(%s::jsonb) AS r {_on_conflict()}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [workspace_id, received_at, payload])
        return cursor.rowcount


def _insert_many(workspace_id: int, rows: Sequence[EventRow], received_at: Any) -> int:
    """Insert the rows with one ``executemany`` (SQLite: one prepared statement, no per-row
    round trip)."""
    table, columns = _event_columns()
    statement = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model, values bound
        f"VALUES (%s, %s, %s, %s, %s, %s, %s) {_on_conflict()}"
    )
    params = [
        (
            workspace_id,
            event,
            distinct_id,
            time_us,
            insert_id,
            properties_json(properties),
            received_at,
        )
        for event, distinct_id, time_us, insert_id, properties in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, params)
        return cursor.rowcount


@transaction.atomic
def persons_identify(
    *, workspace: Workspace, traits: Iterable[tuple[str, Mapping[str, Any]]]
) -> int:
    """Merge ``identify`` traits into the unit properties of each distinct id; return how many
    persons were written. Later traits for the same id win, key by key."""
    merged: dict[str, dict[str, Any]] = {}
    for distinct_id, props in traits:
        merged.setdefault(distinct_id, {}).update(props)
    if not merged:
        return 0
    if workspace.event_store != EventStore.APP:
        return sink_for(workspace.event_store).write_persons(workspace.pk, merged)
    now = datetime.now(tz=UTC)
    existing = {
        p.distinct_id: p
        for p in Person.objects.filter(workspace=workspace, distinct_id__in=list(merged))
    }
    to_create, to_update = [], []
    for distinct_id, props in merged.items():
        person = existing.get(distinct_id)
        if person is None:
            to_create.append(Person(workspace=workspace, distinct_id=distinct_id, properties=props))
        else:
            person.properties = {**person.properties, **props}
            person.updated_at = now
            to_update.append(person)
    Person.objects.bulk_create(to_create, batch_size=1000, ignore_conflicts=True)
    Person.objects.bulk_update(to_update, ["properties", "updated_at"], batch_size=1000)
    return len(to_create) + len(to_update)
