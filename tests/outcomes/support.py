"""Generated events for the outcomes tests, and brute-force references of every KPI.

The events are generated with a seed around the spring daylight-saving change in Berlin (29
March 2026), with events at and around local midnight on the short day, users with a single
event, users who leave for more than 60 days and come back (resurrected), excluded events,
answers out of range, revenue events of shared accounts, and persons missing properties. The
KPI and OKR test modules import the generator and the references from here.
"""

from __future__ import annotations

import math
import random
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outcomes.kpis.compute import KpiRow
from outcomes.kpis.models import KpiSettings
from outcomes.kpis.queries.statement import RETENTION_DAYS
from outcomes.kpis.settings import kpi_settings_update
from plg_platform.clock import DAY_US, epoch_us, monday_of
from plg_platform.services.ingestion import IngestResult, event_rows_store, persons_identify

BERLIN = ZoneInfo("Europe/Berlin")
DAY = DAY_US
HOUR = 3_600_000_000
DATA_START = date(2026, 1, 15)
DATA_END = date(2026, 4, 24)
NOW = datetime(2026, 4, 25, 12, 0, tzinfo=BERLIN)
CUTOFF_US = epoch_us(NOW)
FIRST_DAY = date(2026, 3, 22)
LAST_DAY = date(2026, 4, 4)  # 29 March (23 hours long) is inside
KPI_CONFIG: dict[str, Any] = {
    "signup_event": "signed_up",
    "excluded_activity_events": ["$exposure", "email_bounced"],
    "aha_event": "doc",
    "activation_window_days": 3,
    "ttv_window_days": 10,
    "paid_event": "upgrade",
    "paid_window_days": 14,
    "core_events": ["doc", "share", "comment"],
    "feature_events": ["feature_used", "share"],
    "feature_property": "feature",
    "segment_properties": ["plan"],
    "pql_event": "doc",
    "pql_min_count": 6,
    "pql_window_days": 30,
    "nps_event": "nps",
    "nps_score_property": "score",
    "ces_event": "ces",
    "ces_score_property": "effort",
    "ces_scale_max": 7,
    "feedback_event": "feedback",
    "feedback_property": "request",
    "feedback_window_days": 60,
    "revenue_event": "upgrade",
    "revenue_property": "amount",
    "revenue_period": "annual",
    "revenue_churn_event": "cancelled",
}


@dataclass
class Data:
    """Generated events (in insertion order) and person properties."""

    events: list[dict[str, Any]] = field(default_factory=list)
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)

    def by_unit(self) -> dict[str, list[dict[str, Any]]]:
        if getattr(self, "_by_unit", None) is None or self._count != len(self.events):
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for e in self.events:
                grouped[e["distinct_id"]].append(e)
            self._by_unit, self._count = grouped, len(self.events)
        return self._by_unit

    def add(self, unit: str, name: str, moment: datetime, **properties: Any) -> None:
        self.events.append(
            {
                "event": name,
                "distinct_id": unit,
                "t": epoch_us(moment),
                "properties": properties,
            }
        )


def local_instant(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0):
    """A Berlin wall-clock time (nonexistent times on the spring-forward day move forward)."""
    naive = datetime.combine(day, time(hour, minute, second, micro))
    return naive.replace(tzinfo=BERLIN).astimezone(UTC).astimezone(BERLIN)


REQUESTS = ["Offline mode", " offline MODE ", "Dark mode", "dark mode", "Export to PDF", ""]


def generate(seed: int, users: int = 70) -> Data:
    rng = random.Random(seed)
    data = Data()
    days = (DATA_END - DATA_START).days
    for u in range(users):
        unit = f"u{u}"
        account = f"acct-{u // 3}"
        if u % 11 != 5:  # some users have no person row
            props: dict[str, Any] = {"plan": rng.choice(["free", "pro", "team"])}
            if u % 7 != 3:
                props["account_id"] = account
            if u % 3 == 0 and rng.random() < 0.6:
                props["arr"] = rng.choice([1200, 3000, 450.5, "unknown"])
            data.persons[unit] = props
        start_day = DATA_START + timedelta(days=rng.randint(0, days - 1))
        signup = local_instant(start_day, rng.choice([0, 1, 2, 3, 12, 23]), rng.randint(0, 59))
        if u % 13 == 4:  # a user with a single event
            data.add(unit, "session", signup)
            continue
        if u % 17 != 8:  # some users never sign up (active, never in a cohort)
            data.add(unit, "signed_up", signup)
        if rng.random() < 0.3:
            data.add(unit, "$exposure", signup + timedelta(seconds=1), experiment="x")
        # Activity on random days; some leave for more than 60 days and come back.
        active_days = sorted(rng.sample(range(0, 45), rng.randint(0, 12)))
        if u % 5 == 0:
            active_days += [d + 70 for d in rng.sample(range(0, 20), 3)]
        for offset in active_days:
            day = start_day + timedelta(days=offset)
            if day > DATA_END:
                continue
            hour = rng.choice([0, 0, 1, 2, 3, 9, 14, 22, 23, 23])
            moment = local_instant(day, hour, rng.randint(0, 59), rng.randint(0, 59))
            if rng.random() < 0.1:  # exactly at local midnight
                moment = local_instant(day, 0)
            name = rng.choice(["session", "doc", "doc", "share", "comment", "feature_used"])
            props = {}
            if name == "feature_used":
                props = rng.choice([{"feature": "tables"}, {"feature": "ai"}, {}, {"feature": 7}])
            data.add(unit, name, moment, **props)
            if rng.random() < 0.3:
                data.add(unit, "email_bounced", moment + timedelta(minutes=5))
            if rng.random() < 0.15:
                score: Any = rng.choice([0, 3, 6, 7, 8, 9, 10, 11, -1, "9", 6.5])
                data.add(unit, "nps", moment + timedelta(minutes=1), score=score)
            if rng.random() < 0.1:
                data.add(unit, "ces", moment, effort=rng.choice([1, 4, 7, 8, 0, None]))
            if rng.random() < 0.08:
                data.add(unit, "feedback", moment, request=rng.choice(REQUESTS))
        # The Aha moment: soon, late, or never.
        if rng.random() < 0.6:
            aha = signup + timedelta(hours=rng.choice([0, 5, 47, 71.9999, 72, 100, 239, 300]))
            data.add(unit, "doc", aha)
        if u % 4 == 0 and rng.random() < 0.7:  # heavy users: PQL candidates
            for _ in range(rng.randint(3, 9)):
                moment = NOW - timedelta(days=rng.uniform(0, 35))
                data.add(unit, "doc", moment.astimezone(BERLIN))
        if rng.random() < 0.25:
            upgraded = signup + timedelta(days=rng.uniform(0, 20))
            data.add(unit, "upgrade", upgraded, amount=rng.choice([1200, 600, "n/a"]))
            if rng.random() < 0.3:
                data.add(unit, "cancelled", upgraded + timedelta(days=rng.uniform(1, 15)))
    # Users who leave for more than 60 days and come back inside the tested days (resurrected).
    for r in range(4):
        unit = f"back{r}"
        data.persons[unit] = {"plan": "free"}
        data.add(unit, "signed_up", local_instant(date(2026, 1, 16 + r), 9))
        data.add(unit, "doc", local_instant(date(2026, 1, 17 + r), 23, 30))
        data.add(unit, "session", local_instant(date(2026, 3, 24 + 2 * r), 0, 30))
        data.add(unit, "comment", local_instant(date(2026, 3, 29), 3, 0))
    # Exact ties: two revenue events of one account at the same instant (insertion order wins).
    tie = local_instant(date(2026, 3, 29), 3, 0)
    data.add("u0", "upgrade", tie, amount=2400)
    data.add("u1", "upgrade", tie, amount=120)
    return data


def store(workspace, data: Data) -> None:
    """Write the events (insert ids unique per batch, so later batches are never duplicates)."""
    batch = uuid.uuid4().hex[:8]
    rows = [
        (e["event"], e["distinct_id"], e["t"], f"{batch}-{i}", e["properties"])
        for i, e in enumerate(data.events)
    ]
    event_rows_store(workspace=workspace, rows=rows, result=IngestResult())
    persons_identify(workspace=workspace, traits=list(data.persons.items()))


def configure(workspace, **overrides: Any) -> KpiSettings:
    workspace.timezone = "Europe/Berlin"
    workspace.save(update_fields=["timezone"])
    return kpi_settings_update(workspace=workspace, changes={**KPI_CONFIG, **overrides})


# --- the brute-force reference -----------------------------------------------------------
def local_day(t: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)).astimezone(BERLIN).date()


def is_active(e: dict[str, Any], config: dict[str, Any]) -> bool:
    if e["event"] in config.get("excluded_activity_events", []):
        return False
    listed = config.get("activity_events") or []
    return not listed or e["event"] in listed


def segment_of(data: Data, unit: str, prop: str) -> str:
    if not prop:
        return ""
    value = data.persons.get(unit, {}).get(prop)
    return f"{prop}={value if value is not None else '(none)'}"


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def reference_activity(data: Data, config: dict[str, Any], day: date, prop: str = ""):
    """Return {segment: counts} for local day ``day``."""
    days_of: dict[str, set[date]] = defaultdict(set)
    for e in data.events:
        if is_active(e, config):
            days_of[e["distinct_id"]].add(local_day(e["t"]))
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for unit, days in days_of.items():
        seg = segment_of(data, unit, prop)
        within = [d for d in days if d <= day]
        if not within:
            continue
        first = min(days)
        in_month = any(day - timedelta(days=29) <= d for d in within)
        in_previous = any(day - timedelta(days=59) <= d <= day - timedelta(days=30) for d in within)
        if not in_month and not in_previous:
            continue
        c = out[seg]
        c["dau"] += day in days
        c["wau"] += any(day - timedelta(days=6) <= d for d in within)
        c["mau"] += in_month
        c["previous_mau"] += in_previous
        c["churned"] += in_previous and not in_month
        c["new_users"] += in_month and not in_previous and first > day - timedelta(days=30)
        c["resurrected"] += in_month and not in_previous and first <= day - timedelta(days=60)
        for kind in ("core", "feature"):
            for feature in adopted_units(data, config, unit, day, kind):
                c[f"{kind}:{feature}"] += 1
    return out


def adopted_units(data: Data, config, unit: str, day: date, kind: str) -> set[str]:
    used = set()
    for e in data.by_unit().get(unit, []):
        if not (day - timedelta(days=29) <= local_day(e["t"]) <= day):
            continue
        if kind == "core" and e["event"] in config["core_events"]:
            used.add(e["event"])
        if kind == "feature" and e["event"] in config["feature_events"]:
            value = e["properties"].get(config["feature_property"])
            used.add(f"{e['event']}:{value}" if value is not None else e["event"])
    return used


def reference_cohorts(
    data: Data, config: dict[str, Any], period: str, prop: str = ""
) -> dict[tuple[date, str], dict[str, Any]]:
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == config["signup_event"] and e["t"] < CUTOFF_US:
            starts[e["distinct_id"]] = min(e["t"], starts.get(e["distinct_id"], e["t"]))
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in data.events:
        if e["t"] < CUTOFF_US:
            by_unit[e["distinct_id"]].append(e)
    out: dict[tuple[date, str], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    medians: dict[tuple[date, str], list[float]] = defaultdict(list)
    act, ttv, paid = (
        config["activation_window_days"] * DAY,
        config["ttv_window_days"] * DAY,
        config["paid_window_days"] * DAY,
    )
    for unit, start in starts.items():
        cohort = local_day(start)
        if period == "week":
            cohort = monday_of(cohort)
        key = (cohort, segment_of(data, unit, prop))
        c = out[key]
        events = [e for e in by_unit[unit] if e["t"] >= start]
        c["new_users"] += 1
        ahas = [e["t"] - start for e in events if e["event"] == config["aha_event"]]
        aha = min(ahas) if ahas else None  # each KPI applies its own window below
        if start + act <= CUTOFF_US:
            c["activation_units"] += 1
            c["activated"] += aha is not None and aha < act
        if start + ttv <= CUTOFF_US:
            c["ttv_units"] += 1
            if aha is not None and aha < ttv:
                c["ttv_reached"] += 1
                medians[key].append(aha)
        for n in RETENTION_DAYS:
            if start + (n + 1) * DAY <= CUTOFF_US:
                c[f"d{n}_units"] += 1
                c[f"d{n}_retained"] += any(
                    is_active(e, config) and start + n * DAY <= e["t"] < start + (n + 1) * DAY
                    for e in events
                )
        if start + paid <= CUTOFF_US:
            c["paid_units"] += 1
            c["paid"] += any(
                e["event"] == config["paid_event"] and e["t"] < start + paid for e in events
            )
    for key, values in medians.items():
        out[key]["ttv_median_hours"] = statistics.median(values) / HOUR
    return out


# --- success moments: their own events, and the brute-force reference --------------------------
MOMENTS = [
    {"name": "Setup", "event": "setup", "window_days": 1, "min_count": 1, "min_distinct_days": 1},
    {"name": "Aha", "event": "doc", "window_days": 7, "min_count": 1, "min_distinct_days": 1},
    {
        "name": "Eureka",
        "event": "invite",
        "window_days": 14,
        "min_count": 1,
        "min_distinct_days": 1,
    },
    {"name": "Habit", "event": "doc", "window_days": 30, "min_count": 6, "min_distinct_days": 4},
]
MOMENTS_FIRST, MOMENTS_LAST = date(2026, 2, 1), date(2026, 4, 24)


def moment_data(seed: int = 3) -> Data:
    """Signups with Setup just inside or outside a day, invites, and docs on some days."""
    rng = random.Random(seed)
    data = Data()
    first = MOMENTS_FIRST
    for u in range(90):
        unit = f"m{u}"
        data.persons[unit] = {"plan": rng.choice(["free", "pro"])}
        signup = local_instant(first + timedelta(days=rng.randint(0, 82)), rng.randint(0, 23))
        data.add(unit, "signed_up", signup)
        if rng.random() < 0.6:  # Setup just inside or just outside one day
            data.add(unit, "setup", signup + timedelta(hours=rng.choice([0, 5, 23.99, 24, 30])))
        if rng.random() < 0.4:
            data.add(unit, "invite", signup + timedelta(days=rng.choice([1, 13.9, 14, 20])))
        for _ in range(rng.randint(0, 12)):  # docs on some days, some after the windows
            data.add(unit, "doc", signup + timedelta(hours=rng.uniform(0, 40 * 24)))
        if rng.random() < 0.2:  # several docs the same day: count, but one distinct day
            day = signup + timedelta(days=2)
            for i in range(6):
                data.add(unit, "doc", day + timedelta(minutes=i))
    data.add("m0", "doc", local_instant(first, 0) - timedelta(days=3))  # before any start
    return data


def reference_moments(data: Data, period: str, prop: str) -> dict[tuple[date, str, str], list[int]]:
    """{(cohort, segment, moment): [matured, reached]} of ``MOMENTS``, from the raw events."""
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == "signed_up" and e["t"] < CUTOFF_US:
            starts[e["distinct_id"]] = min(starts.get(e["distinct_id"], e["t"]), e["t"])
    by_unit = data.by_unit()
    out: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for unit, start in starts.items():
        cohort = local_day(start) if period == "day" else monday_of(local_day(start))
        for m in MOMENTS:
            window = m["window_days"] * DAY
            if start + window > CUTOFF_US:
                continue
            times = [
                e["t"]
                for e in by_unit[unit]
                if e["event"] == m["event"] and start <= e["t"] < start + window
            ]
            days = {(t - start) // (24 * HOUR) for t in times}
            cell = out[(cohort, segment_of(data, unit, prop), m["name"])]
            cell[0] += 1
            cell[1] += len(times) >= m["min_count"] and len(days) >= m["min_distinct_days"]
    return out


def rows_by(rows: Iterable[KpiRow]) -> dict[tuple[str, date, str, str], KpiRow]:
    return {(r.kpi, r.date, r.segment, r.dimension): r for r in rows}


def assert_close(actual: float | None, expected: float | None, label: str) -> None:
    if expected is None:
        assert actual is None, label
        return
    assert actual is not None, label
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (label, actual, expected)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def recent_events(workspace, days: int = 6) -> date:
    """A few users active around noon (UTC, the workspace's zone) of each of the last ``days``
    days; return today."""
    today = datetime.now(tz=UTC).date()
    data = Data()
    for d in range(days):
        noon = datetime.combine(today - timedelta(days=d), time(12), tzinfo=UTC)
        for u in range(3 + d):
            data.add(f"u{u}", "session", noon + timedelta(minutes=u))
        data.add(f"new{d}", "signed_up", noon - timedelta(minutes=1))
    store(workspace, data)
    return today
