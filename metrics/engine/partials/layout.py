"""What a scope's partial aggregates hold for a set of metrics: parts, components, fingerprints.

A *part* is one event with its filters (and the property it sums): a metric's numerator, or a
ratio's denominator. Metrics that count the same events share one part. A *component* is one
per-unit aggregate of a part's day rows over a window of days after the start (a sum of counts
or of property values, the earliest time, the number of active days, the last active day); a
metric's value is a small expression of its components. Components are stored per unit in the
generic columns ``v0 .. v{WIDTH-1}`` of ``metrics_partial_unit``, ``WIDTH`` to a row (more rows,
``chunk`` 1, 2, ..., for experiments with many metrics).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from metrics.engine.definition import EventFilter, MetricDefinition
from metrics.engine.event_tables import EventTable
from metrics.engine.populations import Population

# Bump when the meaning of stored rows changes: every scope is then rebuilt.
FORMAT_VERSION = 2
# Components per row of ``metrics_partial_unit`` (its columns v0 .. v15).
WIDTH = 16

SCOPE_TABLE = "metrics_partial_scope"
DAY_TABLE = "metrics_partial_day"
UNIT_TABLE = "metrics_partial_unit"
DIRTY_TABLE = "metrics_partial_dirty"
DAY_COLUMNS = (
    "scope_id",
    "part",
    "unit_id",
    "rel_day",
    "slice_day",
    "cnt",
    "total",
    "nvals",
    "min_rel_us",
)
# The day rows' primary key: by slice first, so a refresh's rows (the last days) are one range
# of the index to delete, insert and read.
DAY_KEY = ("scope_id", "slice_day", "unit_id", "part", "rel_day")
VALUE_COLUMNS = tuple(f"v{i}" for i in range(WIDTH))
UNIT_COLUMNS = ("scope_id", "unit_id", "chunk", "start_us", *VALUE_COLUMNS)
DIRTY_COLUMNS = ("scope_id", "unit_id", "start_us", "rebuild")

# How a component aggregates day rows, and how a stored value and a newer one combine:
# "sum" adds, "min" and "last" (the largest rel_day) keep the extreme, "days" counts active days
# after the stored "last" one (a day can straddle two UTC days: it must count once).
Kind = Literal["sum", "min", "last", "days"]
Measure = Literal["cnt", "total", "nvals", "min_rel_us", "rel_day"]


@dataclass(frozen=True)
class Part:
    """Events of one name (any name if empty) passing ``filters``; ``property_name`` is summed."""

    event: str
    filters: tuple[EventFilter, ...] = ()
    property_name: str = ""


@dataclass(frozen=True)
class Component:
    """One per-unit aggregate of ``measure`` over a part's day rows with rel_day in [lo, hi).

    A "days" component names the index of its "last" component (same part and window, same
    row of ``metrics_partial_unit``) in ``last``.
    """

    kind: Kind
    measure: Measure
    part: int
    lo: int
    hi: int
    last: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.measure, self.part, self.lo, self.hi)


@dataclass(frozen=True)
class MetricSlots:
    """Which components make metric's value, its ratio denominator and its covariate."""

    value: tuple[int, ...]
    denominator: int | None = None
    covariate: tuple[int, ...] = ()


@dataclass(frozen=True)
class PartialLayout:
    """Parts, components and metric slots for a set of metrics.

    ``first_day`` is the earliest ``rel_day`` kept (CUPED's pre-period, or 0) and ``end_day``
    one past the last (the longest window): events outside never count, so none is kept.
    """

    parts: tuple[Part, ...]
    components: tuple[Component, ...]
    metrics: tuple[MetricSlots, ...]
    first_day: int
    end_day: int

    @property
    def chunks(self) -> int:
        """Rows per unit in ``metrics_partial_unit``."""
        return max(1, -(-len(self.components) // WIDTH))


def position(index: int) -> tuple[int, str]:
    """The chunk and column that hold component ``index``."""
    return index // WIDTH, VALUE_COLUMNS[index % WIDTH]


def has_covariate(m: MetricDefinition, covariate_days: int) -> bool:
    return covariate_days > 0 and m.type not in ("time_to_event", "ratio")


class _Builder:
    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.components: list[Component] = []

    def part(self, event: str, filters: tuple[EventFilter, ...], prop: str) -> int:
        """The part of these events: one that sums ``prop`` (any, for a count)."""
        for i, p in enumerate(self.parts):
            if p.event == event and p.filters == filters and (p.property_name == prop or not prop):
                return i
        self.parts.append(Part(event, filters, prop))
        return len(self.parts) - 1

    def components_of(self, wanted: Sequence[Component]) -> tuple[int, ...]:
        """Indexes of ``wanted`` (new ones appended, a metric's new ones in one row)."""
        known = {c.key: i for i, c in enumerate(self.components)}
        new = [c for c in wanted if c.key not in known]
        room = WIDTH - len(self.components) % WIDTH
        if len(new) > room and room < WIDTH:  # keep a metric's "days" beside its "last"
            self.components.extend(
                Component("sum", "cnt", -1, 0, 0) for _ in range(room)
            )  # unused padding
        for c in new:
            known[c.key] = len(self.components)
            self.components.append(c)
        out = []
        for c in wanted:
            index = known[c.key]
            if c.kind == "days":
                last = known[("last", "rel_day", c.part, c.lo, c.hi)]
                self.components[index] = replace(self.components[index], last=last)
            out.append(index)
        return tuple(out)


def _value_components(
    m: MetricDefinition, part: int, lo: int, hi: int, *, covariate: bool
) -> list[Component]:
    def c(kind: Kind, measure: Measure) -> Component:
        return Component(kind, measure, part, lo, hi)

    if m.type == "mean":
        return [c("sum", "total"), c("sum", "nvals")]
    if m.type == "time_to_event" and not covariate:
        return [c("min", "min_rel_us")]
    if m.type == "moment" and not covariate:
        return [c("sum", "cnt"), c("last", "rel_day"), c("days", "rel_day")]
    if m.type in ("sum", "ratio") and m.property_name:
        return [c("sum", "total")]
    return [c("sum", "cnt")]  # conversion, retention, count; moment's covariate; counted ratio


def partial_layout(metrics: Sequence[MetricDefinition], covariate_days: int = 0) -> PartialLayout:
    """Return the parts and components ``metrics`` need (shared where they are the same)."""
    b = _Builder()
    # Parts with a property first: a count of the same events then reads their ``cnt``.
    for m in metrics:
        if m.type in ("sum", "mean") or (m.is_ratio and m.property_name):
            b.part(m.event, m.filters, m.property_name)
        if m.is_ratio and m.denominator_property:
            b.part(m.denominator_event, m.denominator_filters, m.denominator_property)
    slots = []
    for m in metrics:
        lo, hi = m.window_bounds_days
        prop = m.property_name if m.type in ("sum", "mean", "ratio") else ""
        part = b.part(m.event, m.filters, prop)
        value = b.components_of(_value_components(m, part, lo, hi, covariate=False))
        denominator = None
        if m.is_ratio:
            den = b.part(m.denominator_event, m.denominator_filters, m.denominator_property)
            measure: Measure = "total" if m.denominator_property else "cnt"
            (denominator,) = b.components_of([Component("sum", measure, den, lo, hi)])
        covariate: tuple[int, ...] = ()
        if has_covariate(m, covariate_days):
            covariate = b.components_of(
                _value_components(m, part, -covariate_days, 0, covariate=True)
            )
        slots.append(MetricSlots(value=value, denominator=denominator, covariate=covariate))
    first_day = min(
        [0, *(m.window_bounds_days[0] for m in metrics), -covariate_days if covariate_days else 0]
    )
    end_day = max((m.window_bounds_days[1] for m in metrics), default=0)
    return PartialLayout(
        parts=tuple(b.parts),
        components=tuple(b.components),
        metrics=tuple(slots),
        first_day=first_day,
        end_day=end_day,
    )


def base_population(population: Population) -> Population:
    """The population without segments and day buckets: who the units are and when they
    start, which is all the stored partials depend on."""
    return replace(population, segment_property="", bucket_us=0)


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:32]


def day_fingerprint(
    *,
    layout: PartialLayout,
    population: Population,
    events: EventTable,
    unit_property: str,
    workspace_id: int,
) -> str:
    """What the day rows depend on: when it changes, they are rebuilt from the events."""
    return _digest(
        (
            FORMAT_VERSION,
            workspace_id,
            layout.parts,
            layout.first_day,
            layout.end_day,
            base_population(population),
            events,
            unit_property,
        )
    )


def value_fingerprint(*, layout: PartialLayout) -> str:
    """What the stored components depend on beyond the day rows: when it changes (a window, a
    metric added), every unit's components are recomputed from its day rows, not the events.
    Caps, minimum counts, keys and names are applied later and change nothing stored."""
    return _digest((FORMAT_VERSION, WIDTH, layout.components))
