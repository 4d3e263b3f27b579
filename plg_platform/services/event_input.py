"""The one description of an event: its fields, the rules each must follow, and the limits.

``EventInput`` is what the native batch API validates each event with, what the Segment API
turns each ``track``/``page``/``screen`` message into before validating it the same way, what
the import command's rows become, and what Python callers (exposures, demo data) build. The
OpenAPI schema of ``POST /api/v1/events/batch`` is generated from it too, so the documented
shape cannot drift from the enforced one. ``Properties`` carries the rules on property values
(and Segment traits): depth, summable numbers, storable text (see ``plg_platform.json_values``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from plg_platform.json_values import (
    EVENT_BOUNDS,
    MAX_EVENT_DEPTH,
    MAX_EVENT_NUMBER,
    first_problem,
    text_problem,
)

MAX_NAME_LENGTH = 200
# Segment's own limits (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size):
# 32 kB per message, 500 kB per batch request; measured after decompression.
SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_MAX_BATCH_BYTES = 500 * 1024

MESSAGE_TOO_LARGE = "A message may be at most {limit} bytes of JSON; this one is {size}."


def _storable_text(value: str) -> str:
    if (message := text_problem(value)) is not None:
        raise PydanticCustomError("storable_text", message)
    return value


def _within_event_bounds(value: dict[str, Any]) -> dict[str, Any]:
    problem = first_problem(value, EVENT_BOUNDS)
    if problem is not None:
        raise PydanticCustomError(
            "property_value", "{message}", {"message": problem.message, "path": problem.path}
        )
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(_storable_text),
]
Properties = Annotated[
    dict[str, Any],
    AfterValidator(_within_event_bounds),
    Field(
        description=(
            f"Any JSON object, nested at most {MAX_EVENT_DEPTH} levels; numbers finite and at "
            f"most {MAX_EVENT_NUMBER:g} in absolute value (send larger ones as strings); no "
            "NUL characters."
        )
    ),
]


class EventInput(BaseModel):
    """One product event. Unknown fields are refused, so a typo is never silent."""

    model_config = ConfigDict(extra="forbid")

    event: Name = Field(description="The event name, e.g. document_created.")
    distinct_id: Name = Field(description="The unit (user, account) the event belongs to.")
    timestamp: AwareDatetime = Field(description="When it happened: ISO 8601 with a time zone.")
    insert_id: Annotated[
        Name | None,
        # OpenAPI 3.0 spells an optional string as nullable, not as JSON Schema's null type.
        WithJsonSchema(
            {"type": "string", "nullable": True, "minLength": 1, "maxLength": MAX_NAME_LENGTH}
        ),
    ] = Field(
        default=None, description="A client-chosen id; the same id is stored once per workspace."
    )
    properties: Properties = {}


class EventBatchInput(BaseModel):
    """The body of ``POST /api/v1/events/batch``."""

    events: list[EventInput] = Field(description="Up to 1,000 events (5 MB decompressed).")


TRAITS = TypeAdapter(Properties)
NAME = TypeAdapter(Name)


def errors_by_field(exc: PydanticValidationError, *, prefix: str = "") -> dict[str, list[str]]:
    """Turn a pydantic error into ``{field path: [messages]}``; a property rule names the
    property's own path (``properties.cart.0.price``)."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in error["loc"]]
        parts += [str(part) for part in (error.get("ctx") or {}).get("path", ())]
        message = "Unknown field." if error["type"] == "extra_forbidden" else error["msg"]
        errors.setdefault(".".join(parts) or "event", []).append(message)
    return errors
