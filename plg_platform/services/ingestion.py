"""Event ingestion: validate each event, drop duplicates by ``insert_id``, write in bulk.

All entry points (the native batch API, the Segment-compatible API and the import command)
end here, so validation, deduplication and storage behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from django.conf import settings
from django.db import transaction
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from plg_platform.models import Event, Person, Workspace

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

TIMESTAMP_IN_FUTURE = "Timestamp is more than {hours} hours in the future."
EVENT_NOT_AN_OBJECT = "Each event must be a JSON object."


class EventInput(BaseModel):
    """One event as clients send it. Unknown fields are refused, so typos are not silent."""

    model_config = ConfigDict(extra="forbid")

    event: Name
    distinct_id: Name
    timestamp: AwareDatetime
    insert_id: Name | None = None
    properties: dict[str, Any] = {}


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: IngestResult, *, index_offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(
            {**r, "index": r["index"] + index_offset} for r in other.rejected
        )

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def to_epoch_us(moment: datetime) -> int:
    """Return microseconds since the Unix epoch of an aware datetime, exactly (no float)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def _errors_by_field(exc: PydanticValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"]) or "event"
        message = "Unknown field." if error["type"] == "extra_forbidden" else error["msg"]
        errors.setdefault(loc, []).append(message)
    return errors


def validate_events(
    raw_events: Sequence[Any], *, now: datetime
) -> tuple[list[tuple[int, EventInput]], list[dict[str, Any]]]:
    """Split raw events into valid ones (with their index) and rejections naming the field."""
    horizon = now + timedelta(seconds=settings.INGESTION_MAX_FUTURE_SECONDS)
    valid: list[tuple[int, EventInput]] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, Mapping):
            rejected.append({"index": index, "errors": {"event": [EVENT_NOT_AN_OBJECT]}})
            continue
        try:
            event = EventInput.model_validate(raw)
        except PydanticValidationError as exc:
            rejected.append({"index": index, "errors": _errors_by_field(exc)})
            continue
        if event.timestamp > horizon:
            hours = settings.INGESTION_MAX_FUTURE_SECONDS // 3600
            message = TIMESTAMP_IN_FUTURE.format(hours=hours)
            rejected.append({"index": index, "errors": {"timestamp": [message]}})
            continue
        valid.append((index, event))
    return valid, rejected


def _drop_duplicates(
    *, workspace: Workspace, events: list[EventInput]
) -> tuple[list[EventInput], int]:
    """Remove events whose insert_id was seen earlier in the batch or is already stored."""
    ids = [e.insert_id for e in events if e.insert_id is not None]
    stored = set(
        Event.objects.filter(workspace=workspace, insert_id__in=ids).values_list(
            "insert_id", flat=True
        )
    ) if ids else set()
    seen: set[str] = set()
    fresh: list[EventInput] = []
    for e in events:
        if e.insert_id is not None:
            if e.insert_id in stored or e.insert_id in seen:
                continue
            seen.add(e.insert_id)
        fresh.append(e)
    return fresh, len(events) - len(fresh)


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
    events_store(workspace=workspace, events=[e for _, e in valid], result=result)
    return result


def events_store(
    *, workspace: Workspace, events: list[EventInput], result: IngestResult
) -> None:
    """Store validated events in bulk, counting accepted and duplicate ones into ``result``."""
    with transaction.atomic():
        fresh, duplicates = _drop_duplicates(workspace=workspace, events=events)
        Event.objects.bulk_create(
            [
                Event(
                    workspace=workspace,
                    event=e.event,
                    distinct_id=e.distinct_id,
                    timestamp_us=to_epoch_us(e.timestamp),
                    insert_id=e.insert_id,
                    properties=e.properties,
                )
                for e in fresh
            ],
            batch_size=1000,
            # A concurrent retry of the same batch may race past the check above: the unique
            # constraint then keeps one copy and this insert skips the other.
            ignore_conflicts=True,
        )
    result.accepted += len(fresh)
    result.duplicates += duplicates


@transaction.atomic
def persons_identify(*, workspace: Workspace, traits: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
    """Merge ``identify`` traits into the unit properties of each distinct id; return how many
    persons were written. Later traits for the same id win, key by key."""
    merged: dict[str, dict[str, Any]] = {}
    for distinct_id, props in traits:
        merged.setdefault(distinct_id, {}).update(props)
    if not merged:
        return 0
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
