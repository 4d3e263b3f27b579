"""An independent brute-force reference for the metric layer, and the seeded events it checks.

Pure Python over the raw events as they were sent (ISO timestamps, JSON properties): no SQL,
no window shortcuts, nothing shared with the compiler. Used by the compiler tests on the app
database and by the engine-parity tests on DuckDB, ClickHouse (chdb) and Spark.

The events include the awkward cases: events before the start, exactly on window edges, local
times across a daylight-saving change, units with no events, duplicate events, properties of
the wrong JSON type, and events after the cut-off.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from metrics.engine.definition import MetricDefinition, parse_definition
from metrics.engine.time_units import DAY_US, HOUR_US
from plg_platform.services.ingestion import to_epoch_us

BERLIN = ZoneInfo("Europe/Berlin")
# The start of the generated data: a week before the spring-forward change in Europe (29 March).
ORIGIN = datetime(2026, 3, 22, 12, 0, tzinfo=BERLIN)
CUTOFF = ORIGIN + timedelta(days=40)
CUTOFF_US = to_epoch_us(CUTOFF)

SPECS: list[dict[str, Any]] = [
    {"key": "aha", "type": "conversion", "event": "doc", "window_days": 7},
    {
        "key": "aha_pro",
        "type": "conversion",
        "event": "doc",
        "window_days": 7,
        "filters": [
            {"property": "plan", "op": "eq", "value": "pro"},
            {"property": "words", "op": "gte", "value": 10},
        ],
    },
    {"key": "docs", "type": "count", "event": "doc", "window_days": 14},
    {
        "key": "docs_capped",
        "type": "count",
        "event": "doc",
        "window_days": 14,
        "cap_type": "absolute",
        "cap_value": 3,
    },
    {"key": "words", "type": "sum", "event": "doc", "property": "words", "window_days": 14},
    {
        "key": "words_p90",
        "type": "sum",
        "event": "doc",
        "property": "words",
        "window_days": 14,
        "cap_type": "percentile",
        "cap_value": 0.9,
    },
    {"key": "words_mean", "type": "mean", "event": "doc", "property": "words", "window_days": 14},
    {
        "key": "revenue_per_session",
        "type": "ratio",
        "event": "upgrade",
        "property": "amount",
        "denominator_event": "session",
        "window_days": 21,
    },
    {"key": "d1", "type": "retention", "retention_start_day": 1},
    {
        "key": "d7_14",
        "type": "retention",
        "event": "session",
        "retention_start_day": 7,
        "retention_end_day": 14,
    },
    {
        "key": "habit",
        "type": "moment",
        "event": "doc",
        "window_days": 10,
        "min_count": 3,
        "min_distinct_days": 2,
    },
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 5},
    {
        "key": "not_free",
        "type": "count",
        "event": "session",
        "window_days": 14,
        "filters": [
            {"property": "plan", "op": "neq", "value": "free"},
            {"property": "beta", "op": "eq", "value": True},
        ],
    },
    {
        "key": "in_plans",
        "type": "conversion",
        "event": "session",
        "window_days": 3,
        "filters": [
            {"property": "plan", "op": "in", "value": ["team", "pro"]},
            {"property": "ref", "op": "is_set"},
        ],
    },
]
DEFINITIONS = [parse_definition(spec) for spec in SPECS]


def _local(days: float, hour: int = 0) -> datetime:
    """A Berlin wall-clock time ``days`` after the origin: crosses the DST change."""
    base = ORIGIN.replace(tzinfo=None) + timedelta(days=days)
    return base.replace(hour=hour).replace(tzinfo=BERLIN)


def generate_events(seed: int, units: int = 80) -> tuple[list[dict[str, Any]], dict[str, str]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    plans = {}
    counter = 0

    def add(unit: str, name: str, moment: datetime, **properties: Any) -> None:
        nonlocal counter
        counter += 1
        events.append(
            {
                "event": name,
                "distinct_id": unit,
                "timestamp": moment.isoformat(),
                "insert_id": f"e{counter}",
                "properties": properties,
            }
        )

    for u in range(units):
        unit = f"u{u}"
        plans[unit] = rng.choice(["free", "pro", "team"])
        if u % 9 == 0:
            continue  # a person with no events at all
        signup = _local(rng.uniform(0, 30), hour=rng.randint(0, 23)) + timedelta(
            minutes=rng.randint(0, 59)
        )
        add(unit, "signup", signup)
        if u % 5 == 0:
            add(unit, "doc", signup - timedelta(hours=3), words=50)  # before the start
        if u % 7 == 0:  # exactly on the edge of the 7-day window: excluded
            add(unit, "doc", signup + timedelta(days=7), words=5)
        if u % 7 == 1:  # one microsecond inside the edge: included
            add(unit, "doc", signup + timedelta(days=7) - timedelta(microseconds=1), words=7)
        for _ in range(rng.randint(0, 8)):
            moment = signup + timedelta(hours=rng.uniform(0, 24 * 25))
            words: Any = rng.choice([rng.randint(0, 40), rng.randint(0, 400), "many", None])
            properties = {"plan": rng.choice([plans[unit], "pro", 5])}
            if words is not None:
                properties["words"] = words
            add(unit, "doc", moment, **properties)
            if rng.random() < 0.15:  # the same event twice (different insert ids)
                add(unit, "doc", moment, **properties)
        for _ in range(rng.randint(0, 6)):
            moment = signup + timedelta(hours=rng.uniform(-48, 24 * 20))
            properties = {
                "plan": rng.choice(["free", "pro", "team", True]),
                "beta": rng.choice([True, False, "true", 1]),
            }
            if rng.random() < 0.5:
                properties["ref"] = rng.choice(["ad", None])
            add(unit, "session", moment, **properties)
        if rng.random() < 0.4:
            add(
                unit,
                "upgrade",
                signup + timedelta(days=rng.uniform(0, 25)),
                amount=rng.choice([29, 99.5, "n/a"]),
            )
        if u % 11 == 0:  # activity after the cut-off never counts
            add(unit, "doc", CUTOFF + timedelta(hours=1), words=1000)
    return events, plans


# --- the brute-force reference ---------------------------------------------------------------
def _number(properties: dict[str, Any], key: str) -> float | None:
    value = properties.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _equals(properties: dict[str, Any], key: str, value: Any) -> bool:
    actual = properties.get(key)
    if isinstance(value, bool):
        return isinstance(actual, bool) and actual == value
    if isinstance(value, int | float):
        return _number(properties, key) == value
    return isinstance(actual, str) and actual == value


def _matches(event: dict[str, Any], name: str, filters) -> bool:
    if name and event["event"] != name:
        return False
    props = event["properties"]
    for f in filters:
        ok = {
            "eq": lambda f=f: _equals(props, f.property, f.value),
            "neq": lambda f=f: not _equals(props, f.property, f.value),
            "in": lambda f=f: any(_equals(props, f.property, v) for v in f.value),
            "is_set": lambda f=f: f.property in props,
            "gte": lambda f=f: (
                (_number(props, f.property) or -math.inf) >= f.value
                if _number(props, f.property) is not None
                else False
            ),
        }[f.op]()
        if not ok:
            return False
    return True


def _unit_value(m: MetricDefinition, events, start: int, lo: int, hi: int, *, covariate=False):
    hits = [
        e
        for e in events
        if start + lo * DAY_US <= e["t"] < start + hi * DAY_US and _matches(e, m.event, m.filters)
    ]
    if m.type in ("conversion", "retention"):
        return 1.0 if hits else 0.0
    if m.type == "count" or (m.type == "moment" and covariate):
        return float(len(hits))
    if m.type == "moment":
        days = {(e["t"] - start) // DAY_US for e in hits}
        return 1.0 if len(hits) >= m.min_count and len(days) >= m.min_distinct_days else 0.0
    if m.type == "time_to_event":
        return min(e["t"] - start for e in hits) / HOUR_US if hits else None
    if m.type == "mean":
        values = [v for e in hits if (v := _number(e["properties"], m.property_name)) is not None]
        if not values:
            return 0.0 if covariate else None
        return sum(values) / len(values)
    if m.property_name:
        return sum(_number(e["properties"], m.property_name) or 0.0 for e in hits)
    return float(len(hits))


def _denominator(m: MetricDefinition, events, start: int) -> float:
    lo, hi = m.window_bounds_days
    hits = [
        e
        for e in events
        if start + lo * DAY_US <= e["t"] < start + hi * DAY_US
        and _matches(e, m.denominator_event, m.denominator_filters)
    ]
    if m.denominator_property:
        return sum(_number(e["properties"], m.denominator_property) or 0.0 for e in hits)
    return float(len(hits))


def brute_force(
    raw_events,
    m: MetricDefinition,
    population: dict[str, tuple[int, str]],
    *,
    covariate_days: int = 0,
) -> dict[str, dict[str, float]]:
    by_unit = defaultdict(list)
    for e in raw_events:
        t = to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        if t < CUTOFF_US:
            by_unit[e["distinct_id"]].append({**e, "t": t})
    lo, hi = m.window_bounds_days
    rows = []
    for unit, (start, group) in population.items():
        mature = start + m.maturity_days * DAY_US <= CUTOFF_US
        x = _unit_value(m, by_unit[unit], start, lo, hi)
        row = {"group": group, "mature": mature, "x": x}
        if m.is_ratio:
            row["y"] = _denominator(m, by_unit[unit], start)
        if covariate_days and m.type not in ("ratio", "time_to_event"):
            row["c"] = _unit_value(m, by_unit[unit], start, -covariate_days, 0, covariate=True)
        rows.append(row)
    if m.cap_type != "none":
        if m.cap_type == "absolute":
            cap = m.cap_value
        else:
            values = sorted(r["x"] for r in rows if r["mature"] and r["x"] is not None)
            rank = next(i for i in range(1, len(values) + 1) if i >= m.cap_value * len(values))
            cap = values[rank - 1]
        for r in rows:
            if r["x"] is not None:
                r["x"] = min(r["x"], cap)
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        g = out[r["group"]]
        if not r["mature"]:
            g["immature_units"] += 1
            continue
        g["units"] += 1
        if r["x"] is None:
            continue
        g["n"] += 1
        g["sum"] += r["x"]
        g["sum_squares"] += r["x"] ** 2
        if "y" in r:
            g["denominator_sum"] += r["y"]
            g["denominator_sum_squares"] += r["y"] ** 2
            g["sum_product"] += r["x"] * r["y"]
        if "c" in r:
            g["covariate_sum"] += r["c"]
            g["covariate_sum_squares"] += r["c"] ** 2
            g["covariate_sum_product"] += r["x"] * r["c"]
    return out


def first_seen(raw_events, event: str = "") -> dict[str, int]:
    starts: dict[str, int] = {}
    for e in raw_events:
        t = to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        if (not event or e["event"] == event) and t < CUTOFF_US:
            starts[e["distinct_id"]] = min(t, starts.get(e["distinct_id"], t))
    return starts


def assert_equal(actual, expected: dict[str, float], label: str) -> None:
    for name in ("units", "immature_units", "n"):
        assert getattr(actual, name) == expected.get(name, 0), f"{label}: {name}"
    for name in (
        "sum",
        "sum_squares",
        "denominator_sum",
        "denominator_sum_squares",
        "sum_product",
        "covariate_sum",
        "covariate_sum_squares",
        "covariate_sum_product",
    ):
        value = getattr(actual, name)
        if value is None:
            assert name not in expected, f"{label}: {name} missing"
            continue
        assert value == pytest.approx(expected.get(name, 0.0), rel=1e-9, abs=1e-6), (
            f"{label}: {name}"
        )


# --- quantile metrics (metrics.engine.quantiles) ---------------------------------------------
# Kept apart from SPECS: a quantile metric is a statement of its own and returns no sums.
QUANTILE_SPECS: list[dict[str, Any]] = [
    {
        "key": "q_words_unit_p90",
        "type": "quantile",
        "event": "doc",
        "property": "words",
        "window_days": 14,
        "quantile": 0.9,
        "quantile_of": "unit",
    },
    {
        "key": "q_ttv_median",
        "type": "quantile",
        "event": "doc",
        "window_days": 7,
        "quantile": 0.5,
        "quantile_of": "unit",
    },
    {
        "key": "q_words_event_p75",
        "type": "quantile",
        "event": "doc",
        "property": "words",
        "window_days": 14,
        "quantile": 0.75,
        "quantile_of": "event",
        "filters": [{"property": "plan", "op": "in", "value": ["pro", "team"]}],
    },
    {
        "key": "q_session_event_p10",
        "type": "quantile",
        "event": "upgrade",
        "property": "amount",
        "window_days": 21,
        "quantile": 0.1,
        "quantile_of": "event",
    },
]
QUANTILE_DEFINITIONS = [parse_definition(spec) for spec in QUANTILE_SPECS]


def brute_force_quantile(
    raw_events, m: MetricDefinition, population: dict[str, tuple[int, str]]
) -> dict[str, dict[str, Any]]:
    """Per group: matured and immature units, and the values a quantile is taken of (one per
    unit with a value, or each matching event's number) with the unit each came from."""
    by_unit = defaultdict(list)
    for e in raw_events:
        t = to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        if t < CUTOFF_US:
            by_unit[e["distinct_id"]].append({**e, "t": t})
    lo, hi = m.window_bounds_days
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"units": 0, "immature_units": 0, "values": [], "value_units": []}
    )
    for unit, (start, group) in population.items():
        g = out[group]
        if start + m.maturity_days * DAY_US > CUTOFF_US:
            g["immature_units"] += 1
            continue
        g["units"] += 1
        hits = [
            e
            for e in by_unit[unit]
            if start + lo * DAY_US <= e["t"] < start + hi * DAY_US
            and _matches(e, m.event, m.filters)
        ]
        if m.quantile_of == "event":
            for e in hits:
                number = _number(e["properties"], m.property_name)
                if number is not None:
                    g["values"].append(number)
                    g["value_units"].append(unit)
            continue
        if m.property_name:
            numbers = [
                v for e in hits if (v := _number(e["properties"], m.property_name)) is not None
            ]
            value = sum(numbers) if numbers else None
        else:
            value = min(e["t"] - start for e in hits) / HOUR_US if hits else None
        if value is not None:
            g["values"].append(value)
            g["value_units"].append(unit)
    return out
