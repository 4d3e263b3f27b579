"""Metric definitions as frozen values, validated field by field.

A ``MetricDefinition`` is what the metric compiler reads; it carries no Django. Validation
raises ``MetricDefinitionError`` naming the field at fault, so an API can answer with a 400
that points at it and nothing is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MetricTypeName = Literal[
    "conversion",
    "count",
    "sum",
    "mean",
    "ratio",
    "retention",
    "moment",
    "time_to_event",
    "quantile",
    "funnel",
]
METRIC_TYPES: tuple[str, ...] = (
    "conversion",
    "count",
    "sum",
    "mean",
    "ratio",
    "retention",
    "moment",
    "time_to_event",
    "funnel",
    "quantile",
)
FILTER_OPS: tuple[str, ...] = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "is_set", "is_not_set")
CAP_TYPES: tuple[str, ...] = ("none", "absolute", "percentile")
# Property names become JSON keys in SQL (bound as parameters); keep them plain.
PROPERTY_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$\-]{0,99}$")
MAX_WINDOW_DAYS = 3650
MAX_FILTERS = 20

UNKNOWN_TYPE = "Unknown metric type {value!r}; expected one of: {choices}."
REQUIRED = "This field is required for {type} metrics."
NOT_ALLOWED = "This field does not apply to {type} metrics."
BAD_PROPERTY = "Property names use letters, digits, '_', '-' or '$' (at most 100 characters)."
BAD_WINDOW = "Window must be a whole number of days between 1 and {max}."
BAD_FILTER = "Each filter is {{'property', 'op', 'value'}} with op one of: {ops}."
BAD_FILTER_VALUE = "Filter value must be a string, number or boolean (a list for 'in')."
TOO_MANY_FILTERS = "At most {max} filters."
BAD_RETENTION_DAYS = "Retention days need 0 <= start_day <= end_day <= {max}."
BAD_MIN_COUNT = "Must be a whole number of at least 1."
DISTINCT_DAYS_EXCEED_WINDOW = "Cannot ask for more distinct days than the window has."
BAD_CAP = "Cap type is one of: none, absolute, percentile."
BAD_CAP_VALUE = "An absolute cap is a positive number; a percentile lies strictly in (0, 1)."
CAP_NOT_ALLOWED = "Capping applies to count, sum, mean and ratio metrics."


class MetricDefinitionError(ValueError):
    """A metric definition breaks a rule; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class EventFilter:
    """A condition on an event property: ``property op value``."""

    property: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class FunnelStep:
    """One step of a funnel: an event with optional property filters, and its label."""

    event: str
    filters: tuple[EventFilter, ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.event


@dataclass(frozen=True)
class MetricDefinition:
    """Everything the compiler needs to turn a metric into SQL.

    Windows are half-open in microseconds relative to the unit's start: an event counts when
    ``start + lo <= t < start + hi``. A unit counts once ``start + maturity <= cut-off``.
    """

    key: str
    type: MetricTypeName
    event: str = ""
    filters: tuple[EventFilter, ...] = ()
    property_name: str = ""
    window_days: int | None = None
    denominator_event: str = ""
    denominator_filters: tuple[EventFilter, ...] = ()
    denominator_property: str = ""
    retention_start_day: int | None = None
    retention_end_day: int | None = None
    min_count: int | None = None
    min_distinct_days: int | None = None
    cap_type: str = "none"
    cap_value: float | None = None
    unit_property: str = ""
    tags: tuple[str, ...] = field(default=())
    steps: tuple[FunnelStep, ...] = ()  # funnel metrics only (``metrics.engine.funnels``)
    quantile: float | None = None  # quantile metrics: the level, strictly in (0, 1)
    quantile_of: str = ""  # quantile metrics: "unit" (a value per unit) or "event"

    @property
    def is_ratio(self) -> bool:
        return self.type == "ratio"

    @property
    def window_bounds_days(self) -> tuple[int, int]:
        """Return the (first, last + 1) day after the start in which events count."""
        if self.type == "retention":
            assert self.retention_start_day is not None
            assert self.retention_end_day is not None
            return self.retention_start_day, self.retention_end_day + 1
        assert self.window_days is not None
        return 0, self.window_days

    @property
    def maturity_days(self) -> int:
        """Return how many days after its start a unit must have lived to count."""
        return self.window_bounds_days[1]


def _require_name(data: Mapping[str, Any], name: str, type_: str) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MetricDefinitionError(name, REQUIRED.format(type=type_))
    if not isinstance(value, str) or len(value) > 200:
        raise MetricDefinitionError(name, "Must be a string of at most 200 characters.")
    return value.strip()


def _property_name(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str) or (value and not PROPERTY_NAME.match(value)):
        raise MetricDefinitionError(name, BAD_PROPERTY)
    return value


def _positive_int(data: Mapping[str, Any], name: str, *, maximum: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise MetricDefinitionError(name, BAD_WINDOW.format(max=maximum))
    return value


def _filters(data: Mapping[str, Any], name: str) -> tuple[EventFilter, ...]:
    raw = data.get(name) or []
    if not isinstance(raw, list | tuple):
        raise MetricDefinitionError(name, BAD_FILTER.format(ops=", ".join(FILTER_OPS)))
    if len(raw) > MAX_FILTERS:
        raise MetricDefinitionError(name, TOO_MANY_FILTERS.format(max=MAX_FILTERS))
    parsed = []
    for index, item in enumerate(raw):
        where = f"{name}.{index}"
        if (
            not isinstance(item, Mapping)
            or set(item) - {"property", "op", "value"}
            or item.get("op") not in FILTER_OPS
            or not isinstance(item.get("property"), str)
            or not PROPERTY_NAME.match(item["property"])
        ):
            raise MetricDefinitionError(where, BAD_FILTER.format(ops=", ".join(FILTER_OPS)))
        op, value = item["op"], item.get("value")
        scalar = (str, int, float, bool)
        if op in ("is_set", "is_not_set"):
            value = None
        elif op == "in":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, scalar) for v in value)
            ):
                raise MetricDefinitionError(f"{where}.value", BAD_FILTER_VALUE)
            value = tuple(value)
        elif not isinstance(value, scalar) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise MetricDefinitionError(f"{where}.value", BAD_FILTER_VALUE)
        elif op in ("gt", "gte", "lt", "lte") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise MetricDefinitionError(f"{where}.value", "Comparisons need a number.")
        parsed.append(EventFilter(property=item["property"], op=op, value=value))
    return tuple(parsed)


def _forbid(data: Mapping[str, Any], names: tuple[str, ...], type_: str) -> None:
    for name in names:
        value = data.get(name)
        if value not in (None, "", [], ()):
            raise MetricDefinitionError(name, NOT_ALLOWED.format(type=type_))


def _cap(data: Mapping[str, Any], type_: str) -> tuple[str, float | None]:
    cap_type = data.get("cap_type") or "none"
    if cap_type not in CAP_TYPES:
        raise MetricDefinitionError("cap_type", BAD_CAP)
    if cap_type == "none":
        _forbid(data, ("cap_value",), "uncapped")
        return "none", None
    if type_ not in ("count", "sum", "mean", "ratio"):
        raise MetricDefinitionError("cap_type", CAP_NOT_ALLOWED)
    value: Any = data.get("cap_value")  # raw input, checked below
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if cap_type == "absolute" else 0 < value < 1)
    )
    if not valid:
        raise MetricDefinitionError("cap_value", BAD_CAP_VALUE)
    return cap_type, float(value)


_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    # Fields that may be set for each type, beyond the common ones.
    "conversion": ("event", "filters", "window_days"),
    "count": ("event", "filters", "window_days"),
    "sum": ("event", "filters", "window_days", "property"),
    "mean": ("event", "filters", "window_days", "property"),
    "ratio": (
        "event",
        "filters",
        "window_days",
        "property",
        "denominator_event",
        "denominator_filters",
        "denominator_property",
    ),
    "retention": ("event", "filters", "retention_start_day", "retention_end_day"),
    "moment": ("event", "filters", "window_days", "min_count", "min_distinct_days"),
    "time_to_event": ("event", "filters", "window_days"),
    "funnel": ("steps", "window_days"),
    "quantile": ("event", "filters", "window_days", "property", "quantile", "quantile_of"),
}
# Every field of a metric spec besides ``type``: the one list the API, the services and the
# stored model share. The last four apply to every type; the others depend on it.
SPEC_FIELDS: tuple[str, ...] = (
    "event",
    "filters",
    "window_days",
    "property",
    "denominator_event",
    "denominator_filters",
    "denominator_property",
    "retention_start_day",
    "retention_end_day",
    "min_count",
    "min_distinct_days",
    "steps",
    "quantile",
    "quantile_of",
    "cap_type",
    "cap_value",
    "unit_property",
    "tags",
)
_COMMON_FIELDS = ("cap_type", "cap_value", "unit_property", "tags")
_TYPED_FIELDS = tuple(name for name in SPEC_FIELDS if name not in _COMMON_FIELDS)


def _retention_days(data: Mapping[str, Any]) -> dict[str, int]:
    start: Any = data.get("retention_start_day")  # raw input, checked below
    end: Any = data.get("retention_end_day")
    if end is None:
        end = start
    ok = (
        all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
        and 0 <= start <= end <= MAX_WINDOW_DAYS
    )
    if not ok:
        raise MetricDefinitionError(
            "retention_start_day", BAD_RETENTION_DAYS.format(max=MAX_WINDOW_DAYS)
        )
    return {"retention_start_day": start, "retention_end_day": end}


def _moment(data: Mapping[str, Any], *, window_days: int) -> dict[str, int]:
    values = {}
    for name in ("min_count", "min_distinct_days"):
        value = data.get(name)
        value = 1 if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MetricDefinitionError(name, BAD_MIN_COUNT)
        values[name] = value
    if values["min_distinct_days"] > window_days:
        raise MetricDefinitionError("min_distinct_days", DISTINCT_DAYS_EXCEED_WINDOW)
    return values


MIN_FUNNEL_STEPS = 2
MAX_FUNNEL_STEPS = 10
BAD_STEPS = "A funnel has {min} to {max} steps, in order."
BAD_STEP = "Each step is {'event', 'filters' (optional), 'name' (optional)}."
BAD_STEP_EVENT = "Each step needs an event name (a string of at most 200 characters)."
BAD_STEP_NAME = "A step's name is a string of at most 100 characters."


def _funnel_steps(data: Mapping[str, Any]) -> tuple[FunnelStep, ...]:
    """The funnel's steps, each validated; errors name the step (``steps.2.event``)."""
    raw = data.get("steps")
    if raw is None or raw == []:
        raise MetricDefinitionError("steps", REQUIRED.format(type="funnel"))
    bad_count = BAD_STEPS.format(min=MIN_FUNNEL_STEPS, max=MAX_FUNNEL_STEPS)
    if not isinstance(raw, list | tuple) or not MIN_FUNNEL_STEPS <= len(raw) <= MAX_FUNNEL_STEPS:
        raise MetricDefinitionError("steps", bad_count)
    steps = []
    for index, item in enumerate(raw):
        where = f"steps.{index}"
        if not isinstance(item, Mapping) or set(item) - {"event", "filters", "name"}:
            raise MetricDefinitionError(where, BAD_STEP)
        event = item.get("event")
        if not isinstance(event, str) or not event.strip() or len(event) > 200:
            raise MetricDefinitionError(f"{where}.event", BAD_STEP_EVENT)
        name = item.get("name") or ""
        if not isinstance(name, str) or len(name) > 100:
            raise MetricDefinitionError(f"{where}.name", BAD_STEP_NAME)
        try:
            filters = _filters(item, "filters")
        except MetricDefinitionError as error:
            raise MetricDefinitionError(f"{where}.{error.field}", error.message) from error
        steps.append(FunnelStep(event=event.strip(), filters=filters, name=name.strip()))
    return tuple(steps)


QUANTILE_OF = ("unit", "event")
# Levels nearer 0 or 1 need more units than experiments have for a usable interval (p99.9
# needs n > 3,838 per variant): GrowthBook's range.
MIN_QUANTILE, MAX_QUANTILE = 0.001, 0.999
BAD_QUANTILE = "The quantile is a number between 0.001 and 0.999, e.g. 0.5 (median) or 0.9 (p90)."
BAD_QUANTILE_OF = (
    "Say what the quantile is of: 'unit' (one value per unit) or 'event' (each event's value)."
)
EVENT_QUANTILE_NEEDS_PROPERTY = "An event-level quantile is of a numeric property of the events."


def quantile_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The level and kind of a quantile metric: of one value per unit (the sum of ``property``
    over its events in the window, or without a property the hours to its first event), or of
    each event's ``property``."""
    level: Any = data.get("quantile")  # raw input, checked below
    if (
        isinstance(level, bool)
        or not isinstance(level, int | float)
        or not math.isfinite(level)
        or not MIN_QUANTILE <= level <= MAX_QUANTILE
    ):
        raise MetricDefinitionError("quantile", BAD_QUANTILE)
    of = data.get("quantile_of")
    if of not in QUANTILE_OF:
        raise MetricDefinitionError("quantile_of", BAD_QUANTILE_OF)
    if of == "event" and not data.get("property"):
        raise MetricDefinitionError("property", EVENT_QUANTILE_NEEDS_PROPERTY)
    return {"quantile": float(level), "quantile_of": of}


def parse_definition(data: Mapping[str, Any]) -> MetricDefinition:
    """Return the validated definition in ``data``, or raise naming the first field at fault."""
    type_ = data.get("type")
    if type_ not in METRIC_TYPES:
        raise MetricDefinitionError(
            "type", UNKNOWN_TYPE.format(value=type_, choices=", ".join(METRIC_TYPES))
        )
    allowed = _TYPE_FIELDS[type_]
    _forbid(data, tuple(n for n in _TYPED_FIELDS if n not in allowed), type_)

    event = (
        ""
        if (type_ == "retention" and not data.get("event")) or type_ == "funnel"
        else _require_name(data, "event", type_)
    )
    values: dict[str, Any] = {
        "key": str(data.get("key", "")),
        "type": type_,
        "event": event,
        "filters": _filters(data, "filters"),
        "unit_property": _property_name(data, "unit_property"),
        "tags": tuple(str(t) for t in data.get("tags") or ()),
    }
    if type_ == "retention":
        values.update(_retention_days(data))
    else:
        window = _positive_int(data, "window_days", maximum=MAX_WINDOW_DAYS)
        if window is None:
            raise MetricDefinitionError("window_days", REQUIRED.format(type=type_))
        values["window_days"] = window
    if type_ in ("sum", "mean") or (type_ in ("ratio", "quantile") and data.get("property")):
        values["property_name"] = _property_name(data, "property")
        if not values["property_name"]:
            raise MetricDefinitionError("property", REQUIRED.format(type=type_))
    if type_ == "ratio":
        values["denominator_event"] = _require_name(data, "denominator_event", type_)
        values["denominator_filters"] = _filters(data, "denominator_filters")
        values["denominator_property"] = _property_name(data, "denominator_property")
    if type_ == "moment":
        values.update(_moment(data, window_days=values["window_days"]))
    if type_ == "funnel":
        values["steps"] = _funnel_steps(data)
    if type_ == "quantile":
        values.update(quantile_fields(data))
    values["cap_type"], values["cap_value"] = _cap(data, type_)
    return MetricDefinition(**values)
