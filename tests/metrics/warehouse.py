"""A generated warehouse for the event-source tests: a team's own events table (its own column
names, a TIMESTAMP time column, typed columns and a JSON properties column) and a
GrowthBook-shaped exposure table, written into a DuckDB file or a chdb data directory.

The rows are made by a seeded generator, so every test reads the same rows from either engine
and can compute what to expect from them in plain Python.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CUTOFF = T0 + timedelta(days=40)
EXPERIMENT_ID = "checkout-redesign"
OTHER_EXPERIMENT_ID = "pricing-test"
EVENT_NAMES = ("page_view", "purchase", "signup")
EVENTS_TABLE = "app_events"
EXPOSURES_TABLE = "experiment_viewed"


@dataclass(frozen=True)
class EventRow:
    event_name: str
    account_user: int
    occurred_at: datetime
    revenue: float | None
    plan: str | None
    payload: str


@dataclass(frozen=True)
class ExposureRow:
    experiment_id: str
    variation_id: str
    user_id: str
    timestamp: datetime


@dataclass(frozen=True)
class Warehouse:
    events: tuple[EventRow, ...]
    exposures: tuple[ExposureRow, ...]


def _moment(rng: random.Random, start: datetime, days: float, *, whole_seconds: bool) -> datetime:
    offset = rng.uniform(0, days * 86_400)
    moment = start + timedelta(seconds=offset)
    if whole_seconds:
        return moment.replace(microsecond=0)
    return moment


def generate(seed: int = 7, units: int = 300) -> Warehouse:
    """Events and exposures of ``units`` users; some exposed twice (same or other variation),
    some before the experiment's start or after the cut-off, some never exposed."""
    rng = random.Random(seed)
    events: list[EventRow] = []
    exposures: list[ExposureRow] = []
    for user in range(1, units + 1):
        anchor = _moment(rng, T0, 36, whole_seconds=True)
        draw = rng.random()
        if draw < 0.85:
            variation = rng.choice(("0", "1"))
            exposures.append(ExposureRow(EXPERIMENT_ID, variation, str(user), anchor))
            extra = rng.random()
            if extra < 0.2:  # seen again later in the same variation: the first exposure counts
                later = anchor + timedelta(hours=rng.uniform(1, 200))
                exposures.append(
                    ExposureRow(EXPERIMENT_ID, variation, str(user), later.replace(microsecond=0))
                )
            elif extra < 0.27:  # seen in the other variation too: left out
                other = "1" if variation == "0" else "0"
                later = anchor + timedelta(hours=rng.uniform(0, 100))
                exposures.append(
                    ExposureRow(EXPERIMENT_ID, other, str(user), later.replace(microsecond=0))
                )
            elif extra < 0.32:  # an exposure before the experiment started: outside the phase
                early = T0 - timedelta(days=rng.uniform(1, 5))
                exposures.append(
                    ExposureRow(EXPERIMENT_ID, variation, str(user), early.replace(microsecond=0))
                )
        elif draw < 0.9:  # exposed only after the cut-off
            late = CUTOFF + timedelta(hours=rng.uniform(1, 48))
            exposures.append(
                ExposureRow(EXPERIMENT_ID, "1", str(user), late.replace(microsecond=0))
            )
        if rng.random() < 0.3:
            exposures.append(
                ExposureRow(OTHER_EXPERIMENT_ID, rng.choice(("a", "b", "c")), str(user), anchor)
            )
        for _ in range(rng.randint(0, 9)):
            name = rng.choice(EVENT_NAMES)
            when = anchor + timedelta(seconds=rng.uniform(-20 * 86_400, 20 * 86_400))
            when = when.replace(microsecond=rng.randrange(1_000_000))
            revenue = (
                round(rng.uniform(1, 120), 2) if name == "purchase" and rng.random() < 0.8 else None
            )
            plan = rng.choice(("pro", "free", None))
            payload: dict[str, object] = {"source": rng.choice(("ads", "seo"))}
            items = rng.random()
            if items < 0.6:
                payload["items"] = rng.randint(1, 5)
            elif items < 0.7:
                payload["items"] = str(rng.randint(1, 5))  # a string: not a number
            elif items < 0.8:
                payload["items"] = rng.randint(1, 9) / 2
            events.append(EventRow(name, user, when, revenue, plan, json.dumps(payload)))
    return Warehouse(events=tuple(events), exposures=tuple(exposures))


def _events_arrow(data: Warehouse) -> pa.Table:
    return pa.table(
        {
            "event_name": [e.event_name for e in data.events],
            "account_user": pa.array([e.account_user for e in data.events], pa.int64()),
            "occurred_at": pa.array(
                [e.occurred_at for e in data.events], pa.timestamp("us", tz="UTC")
            ),
            "revenue": pa.array([e.revenue for e in data.events], pa.float64()),
            "plan": pa.array([e.plan for e in data.events], pa.string()),
            "payload": [e.payload for e in data.events],
        }
    )


def _exposures_arrow(data: Warehouse) -> pa.Table:
    return pa.table(
        {
            "experiment_id": [x.experiment_id for x in data.exposures],
            "variation_id": [x.variation_id for x in data.exposures],
            "user_id": [x.user_id for x in data.exposures],
            "timestamp": pa.array(
                [x.timestamp for x in data.exposures], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def write_duckdb(path: Path, data: Warehouse) -> Path:
    """A DuckDB file: TIMESTAMP time columns (UTC), a JSON payload column."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        events, exposures = _events_arrow(data), _exposures_arrow(data)  # noqa: F841 (read by name)
        con.execute(
            f"CREATE TABLE {EVENTS_TABLE} (event_name VARCHAR, account_user BIGINT, "
            "occurred_at TIMESTAMP, revenue DOUBLE, plan VARCHAR, payload JSON)"
        )
        con.execute(
            f"INSERT INTO {EVENTS_TABLE} SELECT event_name, account_user, "
            "CAST(occurred_at AS TIMESTAMP), revenue, plan, payload FROM events"
        )
        con.execute(
            f"CREATE TABLE {EXPOSURES_TABLE} (experiment_id VARCHAR, variation_id VARCHAR, "
            "user_id VARCHAR, timestamp TIMESTAMP)"
        )
        con.execute(
            f"INSERT INTO {EXPOSURES_TABLE} SELECT experiment_id, variation_id, user_id, "
            "CAST(timestamp AS TIMESTAMP) FROM exposures"
        )
        con.execute(
            "CREATE TABLE events_text_time AS SELECT event_name, account_user, "
            f"CAST(occurred_at AS VARCHAR) AS occurred_at FROM {EVENTS_TABLE} LIMIT 5"
        )
    finally:
        con.close()
    return path


def write_chdb(path: Path, data: Warehouse) -> Path:
    """A chdb data directory: DateTime64(6) event times, DateTime (seconds) exposure times,
    a String payload holding JSON."""
    from chdb import session

    path.mkdir(parents=True, exist_ok=True)
    s = session.Session(str(path))
    try:
        events, exposures = _events_arrow(data), _exposures_arrow(data)  # noqa: F841 (read by name)
        s.query(
            f"CREATE TABLE {EVENTS_TABLE} (event_name String, account_user Int64, "
            "occurred_at DateTime64(6, 'UTC'), revenue Nullable(Float64), "
            "plan Nullable(String), payload String) ENGINE = MergeTree ORDER BY occurred_at"
        )
        s.query(f"INSERT INTO {EVENTS_TABLE} SELECT * FROM Python(events)")
        s.query(
            f"CREATE TABLE {EXPOSURES_TABLE} (experiment_id String, variation_id String, "
            "user_id String, timestamp DateTime('UTC')) ENGINE = MergeTree ORDER BY timestamp"
        )
        s.query(f"INSERT INTO {EXPOSURES_TABLE} SELECT * FROM Python(exposures)")
        s.query(
            "CREATE TABLE events_text_time (event_name String, account_user Int64, "
            "occurred_at String) ENGINE = MergeTree ORDER BY account_user"
        )
        s.query(
            "INSERT INTO events_text_time SELECT event_name, account_user, toString(occurred_at) "
            f"FROM {EVENTS_TABLE} LIMIT 5"
        )
    finally:
        s.close()
    return path


EVENTS_MAPPING = {
    "table": EVENTS_TABLE,
    "event_column": "event_name",
    "unit_column": "account_user",
    "timestamp_column": "occurred_at",
    "time_type": "timestamp",
    "properties_column": "payload",
    "property_columns": {"revenue": "revenue", "plan": "plan"},
}
EXPOSURES_MAPPING = {"table": EXPOSURES_TABLE}  # GrowthBook's column names are the defaults
