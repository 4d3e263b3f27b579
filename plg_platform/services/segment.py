"""Translate Segment's HTTP tracking API messages into our events and unit properties.

Existing Segment client libraries can then send to us unchanged: ``track``, ``page`` and
``screen`` become events; ``identify`` traits become unit properties; ``group`` links a unit
to an account (``account_id``) and records the account's traits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import transaction
from pydantic import ValidationError as PydanticValidationError

from plg_platform.models import Workspace
from plg_platform.services.event_input import (
    MESSAGE_TOO_LARGE,
    NAME,
    SEGMENT_MAX_MESSAGE_BYTES,
    TRAITS,
    errors_by_field,
)
from plg_platform.services.ingestion import (
    IngestResult,
    event_rows_store,
    persons_identify,
    validate_events,
)

UNSUPPORTED_TYPE = "Unsupported message type {type!r}: use track, identify, page, screen or group."
MISSING_ID = "A message needs a userId or an anonymousId."
PAGE_EVENT = "$pageview"
SCREEN_EVENT = "$screen"


def _distinct_id(message: Mapping[str, Any]) -> str | None:
    value = message.get("userId") or message.get("anonymousId")
    return None if value is None else str(value)


def _group_id(message: Mapping[str, Any]) -> str | None:
    value = message.get("groupId")
    return None if value is None else str(value)


def _size_error(message: Mapping[str, Any]) -> str | None:
    """Segment refuses messages over 32 kB of JSON; so do we, per message."""
    try:
        size = len(orjson.dumps(message))
    except TypeError:  # too deep or not JSON for orjson: the property rules name the problem
        return None
    if size > SEGMENT_MAX_MESSAGE_BYTES:
        return MESSAGE_TOO_LARGE.format(limit=SEGMENT_MAX_MESSAGE_BYTES, size=size)
    return None


def _traits(message: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The message's traits (and ids) checked by the same rules as events and properties."""
    errors: dict[str, list[str]] = {}
    ids = [("userId", _distinct_id(message))]
    if message.get("type") == "group":
        ids.append(("groupId", _group_id(message)))
    for name, value in ids:
        try:
            NAME.validate_python(value)
        except PydanticValidationError as exc:
            errors.update(errors_by_field(exc, prefix=name))
    try:
        traits = TRAITS.validate_python(message.get("traits") or {})
    except PydanticValidationError as exc:
        errors.update(errors_by_field(exc, prefix="traits"))
    return (None, errors) if errors else (traits, {})


def _event_from(message: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    kind = message.get("type")
    if kind == "track":
        name = message.get("event")
    else:
        name = PAGE_EVENT if kind == "page" else SCREEN_EVENT
    properties = message.get("properties") or {}
    if isinstance(properties, Mapping):  # anything else is refused by EventInput, by field
        properties = dict(properties)
    if kind in ("page", "screen") and message.get("name") and isinstance(properties, dict):
        properties.setdefault("name", message["name"])
    return {
        "event": name,
        "distinct_id": _distinct_id(message),
        "timestamp": message.get("timestamp") or message.get("originalTimestamp") or now,
        "insert_id": message.get("messageId"),
        "properties": properties,
    }


def segment_batch_ingest(
    *, workspace: Workspace, messages: Sequence[Any], now: datetime | None = None
) -> IngestResult:
    """Store a Segment batch; each rejected message is reported by its index in the batch."""
    now = now or datetime.now(tz=UTC)
    result = IngestResult()
    events: list[tuple[int, dict[str, Any]]] = []
    traits: list[tuple[str, dict[str, Any]]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            result.rejected.append({"index": index, "errors": {"type": ["Must be an object."]}})
            continue
        kind = message.get("type")
        distinct_id = _distinct_id(message)
        if kind not in ("track", "page", "screen", "identify", "group"):
            error = UNSUPPORTED_TYPE.format(type=kind)
            result.rejected.append({"index": index, "errors": {"type": [error]}})
        elif distinct_id is None:
            result.rejected.append({"index": index, "errors": {"userId": [MISSING_ID]}})
        elif (size_error := _size_error(message)) is not None:
            result.rejected.append({"index": index, "errors": {"message": [size_error]}})
        elif kind in ("identify", "group"):
            message_traits, errors = _traits(message)
            if message_traits is None:
                result.rejected.append({"index": index, "errors": errors})
                continue
            if kind == "group":
                message_traits = {
                    "account_id": _group_id(message),
                    **{f"account_{k}": v for k, v in message_traits.items()},
                }
            traits.append((distinct_id, message_traits))
            result.accepted += 1
        else:
            events.append((index, _event_from(message, now=now)))
    valid, rejected = validate_events([e for _, e in events], now=now)
    result.rejected.extend({**r, "index": events[r["index"]][0]} for r in rejected)
    # Events and traits of one batch are written together or not at all.
    with transaction.atomic():
        event_rows_store(workspace=workspace, rows=[r for _, r in valid], result=result, now=now)
        persons_identify(workspace=workspace, traits=traits)
    result.rejected.sort(key=lambda r: r["index"])
    return result
