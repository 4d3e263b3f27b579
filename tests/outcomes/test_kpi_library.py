"""Every KPI of the library equals a brute-force Python computation over generated events.

The events are generated with a seed around the spring daylight-saving change in Berlin (29
March 2026), with events at and around local midnight on the short day, users with a single
event, users who leave for more than 60 days and come back (resurrected), excluded events,
answers out of range, revenue events of shared accounts, and persons missing properties. Other
KPI test modules import the generator and the reference from here.
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

import pytest

from outcomes.metrics import kpis as sql
from outcomes.models import FeatureRequest, KpiSettings, KpiValue, ProductQualifiedLead
from outcomes.services.kpi_compute import (
    KpiRow,
    activity_rows,
    cohort_rows,
    cohort_table_rows,
    revenue_rows,
    voice_rows,
)
from outcomes.services.kpi_settings import kpi_settings_get, kpi_settings_update
from outcomes.services.kpis import feature_requests_refresh, pqls_refresh
from plg_platform.services.ingestion import IngestResult, event_rows_store, persons_identify

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
DAY = sql.DAY_US
HOUR = 3_600_000_000
DATA_START = date(2026, 1, 15)
DATA_END = date(2026, 4, 24)
NOW = datetime(2026, 4, 25, 12, 0, tzinfo=BERLIN)
CUTOFF_US = sql.instant_us(NOW)
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
                "t": sql.instant_us(moment),
                "properties": properties,
            }
        )


def _local(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0):
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
        signup = _local(start_day, rng.choice([0, 1, 2, 3, 12, 23]), rng.randint(0, 59))
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
            moment = _local(day, hour, rng.randint(0, 59), rng.randint(0, 59))
            if rng.random() < 0.1:  # exactly at local midnight
                moment = _local(day, 0)
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
        data.add(unit, "signed_up", _local(date(2026, 1, 16 + r), 9))
        data.add(unit, "doc", _local(date(2026, 1, 17 + r), 23, 30))
        data.add(unit, "session", _local(date(2026, 3, 24 + 2 * r), 0, 30))
        data.add(unit, "comment", _local(date(2026, 3, 29), 3, 0))
    # Exact ties: two revenue events of one account at the same instant (insertion order wins).
    tie = _local(date(2026, 3, 29), 3, 0)
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
            for feature in _adopted(data, config, unit, day, kind):
                c[f"{kind}:{feature}"] += 1
    return out


def _adopted(data: Data, config, unit: str, day: date, kind: str) -> set[str]:
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
            cohort = sql.monday_of(cohort)
        key = (cohort, segment_of(data, unit, prop))
        c = out[key]
        events = [e for e in by_unit[unit] if e["t"] >= start]
        c["new_users"] += 1
        ahas = [
            e["t"] - start
            for e in events
            if e["event"] == config["aha_event"] and e["t"] < start + ttv
        ]
        aha = min(ahas) if ahas else None
        if start + act <= CUTOFF_US:
            c["activation_units"] += 1
            c["activated"] += aha is not None and aha < act
        if start + ttv <= CUTOFF_US:
            c["ttv_units"] += 1
            if aha is not None:
                c["ttv_reached"] += 1
                medians[key].append(aha)
        for n in sql.RETENTION_DAYS:
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


def rows_by(rows: Iterable[KpiRow]) -> dict[tuple[str, date, str, str], KpiRow]:
    return {(r.kpi, r.date, r.segment, r.dimension): r for r in rows}


def assert_close(actual: float | None, expected: float | None, label: str) -> None:
    if expected is None:
        assert actual is None, label
        return
    assert actual is not None, label
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (label, actual, expected)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def kpi_data(workspace) -> Data:
    data = generate(seed=7)
    store(workspace, data)
    configure(workspace)
    return data


# --- activity ---------------------------------------------------------------------------
def test_activity_kpis_equal_brute_force_across_the_spring_dst_change(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=LAST_DAY))
    checked = 0
    for day in _days(FIRST_DAY, LAST_DAY):
        for prop in ("", "plan"):
            expected = reference_activity(kpi_data, KPI_CONFIG, day, prop)
            segments = [""] if not prop else list(expected)
            for seg in segments:
                c = expected.get(seg, defaultdict(float))
                get = lambda kpi, dim="", seg=seg, day=day: rows[(kpi, day, seg, dim)]  # noqa: E731
                label = f"{day} {seg!r}"
                for kpi, key in (
                    ("dau", "dau"),
                    ("wau", "wau"),
                    ("mau", "mau"),
                    ("new_users", "new_users"),
                    ("resurrected_users", "resurrected"),
                    ("churned_users", "churned"),
                ):
                    assert_close(get(kpi).value, c[key], f"{label} {kpi}")
                mau, dau, wau = c["mau"], c["dau"], c["wau"]
                ratio = lambda a, b: a / b if b else None  # noqa: E731
                assert_close(get("stickiness_dau_mau").value, ratio(dau, mau), label)
                assert_close(get("stickiness_dau_wau").value, ratio(dau, wau), label)
                assert_close(get("stickiness_wau_mau").value, ratio(wau, mau), label)
                assert_close(get("churn_rate").value, ratio(c["churned"], c["previous_mau"]), label)
                grow = c["new_users"] + c["resurrected"]
                assert_close(get("growth_ratio").value, ratio(grow, c["churned"]), label)
                core = sum(c[f"core:{e}"] for e in KPI_CONFIG["core_events"])
                adoption = ratio(core, 3 * mau)
                assert_close(get("core_adoption").value, adoption, label)
                growth = ratio(grow, grow + c["churned"])
                parts = (adoption, ratio(dau, mau), growth)
                pes = None if None in parts else sum(parts) / 3
                assert_close(get("pes").value, pes, f"{label} pes")
                for name in [k for k in c if k.startswith("feature:")]:
                    feature = name.split(":", 1)[1]
                    assert_close(get("feature_adoption", feature).value, ratio(c[name], mau), label)
                checked += 1
    assert checked > 40
    # The data really exercises churn, resurrection and the short day.
    assert any(r.kpi == "resurrected_users" and r.value for r in rows.values())
    assert any(r.kpi == "churned_users" and r.value for r in rows.values())
    assert rows[("dau", date(2026, 3, 29), "", "")].value > 0


def test_events_at_local_midnight_count_on_the_new_day_even_on_dst_days(workspace):
    """23:59:59.999999 and 00:00 local fall on different days, whatever the UTC offset."""
    configure(workspace, segment_properties=[])
    data = Data()
    for day in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)):
        data.add(f"late-{day}", "session", _local(day, 23, 59, 59, 999_999))
        data.add(f"early-{day}", "session", _local(day, 0))
    # 02:30 does not exist on 29 March: the generator moves it to 03:30 CEST, still that day.
    data.add("gap", "session", _local(date(2026, 3, 29), 2, 30))
    store(workspace, data)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        activity_rows(settings=settings, first_day=date(2026, 3, 28), last_day=date(2026, 3, 31))
    )
    dau = {
        day: rows[("dau", day, "", "")].value for day in _days(date(2026, 3, 28), date(2026, 3, 31))
    }
    assert dau == {
        date(2026, 3, 28): 2,
        date(2026, 3, 29): 3,
        date(2026, 3, 30): 2,
        date(2026, 3, 31): 0,
    }
    assert rows[("mau", date(2026, 3, 31), "", "")].value == 7


def test_autumn_dst_day_is_25_hours_long(workspace):
    configure(workspace, segment_properties=[])
    data = Data()
    day = date(2026, 10, 25)
    data.add("a", "session", _local(day, 0, 0))
    data.add("b", "session", _local(day, 23, 59))  # 25 hours after local midnight
    data.add("c", "session", _local(day + timedelta(days=1), 0, 0))
    store(workspace, data)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        activity_rows(settings=settings, first_day=day, last_day=day + timedelta(days=1))
    )
    assert rows[("dau", day, "", "")].value == 2
    assert rows[("dau", day + timedelta(days=1), "", "")].value == 1


def test_empty_period_gives_zero_counts_and_undefined_ratios(workspace):
    configure(workspace)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=FIRST_DAY))
    assert rows[("dau", FIRST_DAY, "", "")].value == 0
    assert rows[("stickiness_dau_mau", FIRST_DAY, "", "")].value is None
    assert rows[("growth_ratio", FIRST_DAY, "", "")].value is None
    assert rows[("pes", FIRST_DAY, "", "")].value is None
    cohorts = rows_by(
        cohort_rows(
            settings=settings,
            period="day",
            first_day=FIRST_DAY,
            last_day=FIRST_DAY,
            cutoff_us=CUTOFF_US,
        )
    )
    assert cohorts[("activation_rate", FIRST_DAY, "", "")].value is None
    assert cohorts[("time_to_value", FIRST_DAY, "", "")].value is None
    assert cohorts[("new_signups", FIRST_DAY, "", "")].value == 0


# --- signup cohorts ---------------------------------------------------------------------
@pytest.mark.parametrize("period", ["day", "week"])
def test_cohort_kpis_equal_brute_force(workspace, kpi_data, period):
    settings = kpi_settings_get(workspace=workspace)
    first, last = DATA_START, DATA_END
    rows = rows_by(
        cohort_rows(
            settings=settings, period=period, first_day=first, last_day=last, cutoff_us=CUTOFF_US
        )
    )
    checked = 0
    for prop in ("", "plan"):
        expected = reference_cohorts(kpi_data, KPI_CONFIG, period, prop)
        for (cohort, seg), c in expected.items():
            get = lambda kpi, cohort=cohort, seg=seg: rows[(kpi, cohort, seg, "")]  # noqa: E731
            label = f"{period} {cohort} {seg!r}"
            ratio = lambda a, b: a / b if b else None  # noqa: E731
            assert get("new_signups").value == c["new_users"], label
            assert_close(
                get("activation_rate").value, ratio(c["activated"], c["activation_units"]), label
            )
            assert get("activation_rate").denominator == c["activation_units"], label
            assert_close(get("time_to_value").value, c.get("ttv_median_hours"), f"{label} ttv")
            never = c["ttv_units"] - c["ttv_reached"]
            assert_close(get("ttv_never_reached").value, ratio(never, c["ttv_units"]), label)
            for n in sql.RETENTION_DAYS:
                assert_close(
                    get(f"retention_d{n}").value,
                    ratio(c[f"d{n}_retained"], c[f"d{n}_units"]),
                    f"{label} d{n}",
                )
            assert_close(get("free_to_paid").value, ratio(c["paid"], c["paid_units"]), label)
            checked += 1
    assert checked > 30
    medians = [r.value for r in rows.values() if r.kpi == "time_to_value" and r.value is not None]
    assert medians, "some cohorts reached value"


def test_cohort_retention_table_equals_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        cohort_table_rows(
            settings=settings,
            first_week=sql.monday_of(DATA_START),
            last_week=DATA_END,
            cutoff_us=CUTOFF_US,
            weeks=12,
        )
    )
    starts: dict[str, int] = {}
    for e in kpi_data.events:
        if e["event"] == "signed_up":
            starts[e["distinct_id"]] = min(e["t"], starts.get(e["distinct_id"], e["t"]))
    expected: dict[tuple[date, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for unit, start in starts.items():
        for prop in ("", "plan"):
            seg = segment_of(kpi_data, unit, prop)
            for k in range(13):
                if start + (k + 1) * 7 * DAY > CUTOFF_US:
                    break
                cell = expected[(sql.monday_of(local_day(start)), seg, k)]
                cell[0] += 1
                cell[1] += any(
                    e["distinct_id"] == unit
                    and is_active(e, KPI_CONFIG)
                    and start + k * 7 * DAY <= e["t"] < start + (k + 1) * 7 * DAY
                    for e in kpi_data.events
                )
    assert len(expected) > 50
    for (week, seg, k), (units, retained) in expected.items():
        row = rows[("cohort_retention", week, seg, str(k))]
        assert (row.denominator, row.numerator) == (units, retained), (week, seg, k)
    assert len(rows) == len(expected)


# --- voice of the customer --------------------------------------------------------------
def test_nps_and_ces_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = DATA_START, DATA_END
    rows = rows_by(voice_rows(settings=settings, first_day=first, last_day=last))
    expected: dict[tuple[date, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in kpi_data.events:
        for prop in ("", "plan"):
            c = expected[(local_day(e["t"]), segment_of(kpi_data, e["distinct_id"], prop))]
            if e["event"] == "nps":
                score = number(e["properties"].get("score"))
                if score is not None and 0 <= score <= 10:
                    c["n"] += 1
                    c["p"] += score >= 9
                    c["d"] += score < 7
            if e["event"] == "ces":
                effort = number(e["properties"].get("effort"))
                if effort is not None and 1 <= effort <= 7:
                    c["ces_n"] += 1
                    c["ces_sum"] += effort
    answered = 0
    for (day, seg), c in expected.items():
        if not first <= day <= last or (seg == "" and not c):
            continue
        if not c["n"] and not c["ces_n"] and seg:
            continue
        nps = rows[("nps", day, seg, "")]
        assert_close(nps.value, 100 * (c["p"] - c["d"]) / c["n"] if c["n"] else None, str(day))
        assert_close(
            rows[("ces", day, seg, "")].value,
            c["ces_sum"] / c["ces_n"] if c["ces_n"] else None,
            str(day),
        )
        answered += c["n"] > 0
    assert answered > 5


# --- value capture ----------------------------------------------------------------------
def test_mrr_added_and_churned_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = date(2026, 2, 20), DATA_END
    rows = rows_by(revenue_rows(settings=settings, first_day=first, last_day=last))
    current: dict[str, float] = {}
    moves: dict[date, list[float]] = defaultdict(list)
    events = sorted(
        ((e["t"], i, e) for i, e in enumerate(kpi_data.events)), key=lambda x: (x[0], x[1])
    )
    for t, _, e in events:
        if e["event"] not in ("upgrade", "cancelled"):
            continue
        unit = kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
        amount = number(e["properties"].get("amount")) if e["event"] == "upgrade" else 0.0
        after = (amount or 0.0) / 12
        moves[local_day(t)].append(after - current.get(unit, 0.0))
        current[unit] = after
    mrr = sum(sum(v) for d, v in moves.items() if d < first)
    for day in _days(first, last):
        mrr += sum(moves.get(day, []))
        assert_close(rows[("mrr", day, "", "")].value, mrr, f"mrr {day}")
        added = sum(m for m in moves.get(day, []) if m > 0)
        lost = sum(-m for m in moves.get(day, []) if m < 0)
        assert_close(rows[("new_mrr", day, "", "")].value, added, f"added {day}")
        assert_close(rows[("churned_mrr", day, "", "")].value, lost, f"lost {day}")
    assert any(r.value for r in rows.values() if r.kpi == "churned_mrr")


# --- lists --------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["user", "account"])
def test_product_qualified_leads_equal_brute_force(workspace, kpi_data, unit):
    configure(workspace, pql_unit=unit)
    settings = kpi_settings_get(workspace=workspace)
    pqls_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 30 * DAY

    def unit_of(distinct_id: str) -> str:
        if unit == "user":
            return distinct_id
        return kpi_data.persons.get(distinct_id, {}).get("account_id", distinct_id)

    hits: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for i, e in enumerate(kpi_data.events):
        if e["event"] == "doc" and since <= e["t"] < CUTOFF_US:
            hits[unit_of(e["distinct_id"])].append((e["t"], i, e["distinct_id"]))
    persons_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for distinct_id, props in kpi_data.persons.items():
        persons_of[unit_of(distinct_id)].append(props)
    expected = {}
    for key, events in hits.items():
        if len(events) < 6:
            continue
        events.sort()
        arrs = [a for p in persons_of[key] if (a := number(p.get("arr"))) is not None]
        plans = [p["plan"] for p in persons_of[key] if "plan" in p]
        expected[key] = (
            len(events),
            len({d for _, _, d in events}),
            events[5][0],
            max(arrs) if arrs else None,
            max(plans) if plans else "",
        )
    stored = {
        p.unit_id: (p.event_count, p.users, sql.instant_us(p.qualified_at), p.arr, p.plan)
        for p in ProductQualifiedLead.objects.filter(workspace=workspace)
    }
    assert stored == expected
    assert len(expected) >= 3


def test_feature_requests_are_counted_by_text_and_weighted_by_account_arr(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    feature_requests_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 60 * DAY
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in kpi_data.events:
        text = e["properties"].get("request")
        if e["event"] == "feedback" and since <= e["t"] < CUTOFF_US and text and text.strip():
            account = kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
            per[text.strip().lower()][account] += 1
    arr_of: dict[str, float] = {}
    for distinct_id, props in kpi_data.persons.items():
        account = props.get("account_id", distinct_id)
        if (arr := number(props.get("arr"))) is not None:
            arr_of[account] = max(arr, arr_of.get(account, arr))
    expected = {
        request: (sum(accounts.values()), len(accounts), sum(arr_of.get(a, 0.0) for a in accounts))
        for request, accounts in per.items()
    }
    stored = {
        r.request: (r.requests, r.accounts, r.arr)
        for r in FeatureRequest.objects.filter(workspace=workspace)
    }
    assert stored == expected
    assert "offline mode" in stored
    ordered = list(FeatureRequest.objects.filter(workspace=workspace))
    assert [r.arr for r in ordered] == sorted((r.arr for r in ordered), reverse=True)


def test_kpi_values_of_another_workspace_never_mix(workspace, other_workspace, kpi_data):
    settings = kpi_settings_get(workspace=other_workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=FIRST_DAY))
    assert rows[("mau", FIRST_DAY, "", "")].value == 0
    assert not KpiValue.objects.exists()


def test_feature_requests_can_be_grouped_into_topics_by_keyword(workspace, kpi_data):
    topics = [
        {"topic": "Offline mode", "keywords": ["OFFLINE"]},
        {"topic": "Dark theme", "keywords": ["dark", "night"]},
    ]
    settings = configure(workspace, feedback_topics=topics)
    feature_requests_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 60 * DAY

    def topic_of(text: str) -> tuple[str, str]:
        lowered = text.lower()
        if "offline" in lowered:
            return "offline mode", "Offline mode"
        if "dark" in lowered or "night" in lowered:
            return "dark theme", "Dark theme"
        return text.strip().lower(), text.strip()

    per: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    shown: dict[str, str] = {}
    for e in kpi_data.events:
        text = e["properties"].get("request")
        if e["event"] == "feedback" and since <= e["t"] < CUTOFF_US and text and text.strip():
            key, label = topic_of(text)
            per[key].add(
                kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
            )
            counts[key] += 1
            shown[key] = label if key in ("offline mode", "dark theme") else shown.get(key, label)
    stored = {
        r.request: (r.requests, r.accounts)
        for r in FeatureRequest.objects.filter(workspace=workspace)
    }
    assert stored == {key: (counts[key], len(per[key])) for key in per}
    assert FeatureRequest.objects.get(workspace=workspace, request="offline mode").text == (
        "Offline mode"
    )
