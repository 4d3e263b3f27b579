"""Compute KPI values from events: run the KPI library's statements (aggregates only come
back) and derive each KPI's numerator, denominator and value, ready to cache.

Python only touches aggregate rows here (one per day, segment and feature at most), never
events. At about 400 lines it stays one module on purpose: one row-derivation function per KPI
family, all sharing the same row helpers; split by family it would scatter those helpers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from metrics.public import AppDatabaseEngine, RenderedQuery, dialect_of
from outcomes.kpis.models import KpiSettings, RevenuePeriod
from outcomes.kpis.queries.activity import (
    ACTIVITY_COLUMNS,
    activity_query,
    adoption_query,
    features_query,
)
from outcomes.kpis.queries.cohorts import cohort_query, cohort_table_query
from outcomes.kpis.queries.moments import Moment, moments_query
from outcomes.kpis.queries.revenue import revenue_query
from outcomes.kpis.queries.statement import RETENTION_DAYS, Activity
from outcomes.kpis.queries.voice import nps_query, voice_query
from plg_platform.clock import HOUR_US, day_from_number, day_number, monday_of, week_monday

COHORT_TABLE_WEEKS = 12


@dataclass(frozen=True)
class KpiRow:
    kpi: str
    period: str
    date: date
    segment: str
    dimension: str
    value: float | None
    numerator: float
    denominator: float


def execute(query: RenderedQuery, using: str = "default") -> list[dict[str, Any]]:
    """Run one statement on the app database; return its (aggregate) rows as dicts. Through
    the metric layer's engine, so a refresh job can add up what its statements cost."""
    return AppDatabaseEngine(using=using).records(query.sql, query.params, query.columns)


def activity_of(settings: KpiSettings) -> Activity:
    return Activity(
        events=tuple(settings.activity_events), excluded=tuple(settings.excluded_activity_events)
    )


def _label(segment_property: str, raw: object) -> str:
    return f"{segment_property}={raw}" if segment_property else ""


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _days(first_day: date, last_day: date) -> list[date]:
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def _f(value: object) -> float:
    return float(value) if value is not None else 0.0  # type: ignore[arg-type]


class _Rows:
    """Collects rows of one period; ``add`` derives the value from numerator/denominator."""

    def __init__(self, period: str) -> None:
        self.period = period
        self.rows: list[KpiRow] = []

    def add(
        self,
        kpi: str,
        day: date,
        segment: str,
        numerator: float,
        denominator: float,
        *,
        dimension: str = "",
        value: float | None = None,
        derive: bool = True,
    ) -> None:
        if derive:
            value = _ratio(numerator, denominator)
        self.rows.append(
            KpiRow(kpi, self.period, day, segment, dimension, value, numerator, denominator)
        )


def _segment_properties(settings: KpiSettings) -> list[str]:
    return ["", *settings.segment_properties]


# --- activity ------------------------------------------------------------------------------
ZERO_ACTIVITY = dict.fromkeys(ACTIVITY_COLUMNS[2:], 0)


def activity_rows(
    *, settings: KpiSettings, first_day: date, last_day: date, using: str = "default"
) -> list[KpiRow]:
    """Return the activity KPIs (DAU … PES, feature adoption) for each day of the range."""
    zone = settings.workspace.timezone
    dialect = dialect_of(using)
    out = _Rows("day")
    core = list(settings.core_events)
    features = _features(settings, last_day, using)
    for prop in _segment_properties(settings):
        common = {
            "dialect": dialect,
            "workspace_id": settings.workspace_id,
            "zone": zone,
            "first_day": first_day,
            "last_day": last_day,
        }
        counts: dict[tuple[date, str], dict[str, Any]] = {
            (day_from_number(int(r["day"])), str(r["seg"])): r
            for r in execute(
                activity_query(**common, activity=activity_of(settings), segment_property=prop),
                using,
            )
        }
        adopters: dict[tuple[date, str], dict[tuple[str, str], float]] = defaultdict(dict)
        if core or settings.feature_events:
            for r in execute(
                adoption_query(
                    **common,
                    core_events=core,
                    feature_events=list(settings.feature_events),
                    feature_property=settings.feature_property,
                    segment_property=prop,
                ),
                using,
            ):
                key = (day_from_number(int(r["day"])), str(r["seg"]))
                adopters[key][(str(r["kind"]), str(r["feature"]))] = _f(r["adopters"])
        keys = set(counts)
        if not prop:  # everyone: every day of the range, zeros included
            keys |= {(day, "") for day in _days(first_day, last_day)}
        for day, seg in sorted(keys):
            _activity_day(
                out,
                day,
                _label(prop, seg) if prop else "",
                counts.get((day, seg), ZERO_ACTIVITY),
                adopters.get((day, seg), {}),
                core,
                features,
            )
    return out.rows


def _features(settings: KpiSettings, last_day: date, using: str) -> list[str]:
    """Return every feature used up to ``last_day``: each has an adoption value every day."""
    if not settings.feature_events:
        return []
    query = features_query(
        dialect=dialect_of(using),
        workspace_id=settings.workspace_id,
        zone=settings.workspace.timezone,
        last_day=last_day,
        feature_events=list(settings.feature_events),
        feature_property=settings.feature_property,
    )
    return [str(r["feature"]) for r in execute(query, using)]


def _activity_day(
    out: _Rows,
    day: date,
    segment: str,
    c: dict[str, Any],
    adopters: dict[tuple[str, str], float],
    core: list[str],
    features: list[str],
) -> None:
    dau, wau, mau = _f(c["dau"]), _f(c["wau"]), _f(c["mau"])
    new, resurrected, churned = _f(c["new_users"]), _f(c["resurrected"]), _f(c["churned"])
    for kpi, value in (
        ("dau", dau),
        ("wau", wau),
        ("mau", mau),
        ("new_users", new),
        ("resurrected_users", resurrected),
        ("churned_users", churned),
    ):
        out.add(kpi, day, segment, value, 1.0)
    out.add("stickiness_dau_mau", day, segment, dau, mau)
    out.add("stickiness_dau_wau", day, segment, dau, wau)
    out.add("stickiness_wau_mau", day, segment, wau, mau)
    out.add("churn_rate", day, segment, churned, _f(c["previous_mau"]))
    out.add("growth_ratio", day, segment, new + resurrected, churned)
    # Every feature, used or not: 0 of MAU users is an adoption of 0 (None only when MAU is 0).
    for feature in features:
        users = adopters.get(("feature", feature), 0.0)
        out.add("feature_adoption", day, segment, users, mau, dimension=feature)
    if core:
        adopted = sum(adopters.get(("core", event), 0.0) for event in core)
        adoption = _ratio(adopted, len(core) * mau)
        out.add("core_adoption", day, segment, adopted, len(core) * mau)
        growth = _ratio(new + resurrected, new + resurrected + churned)
        stickiness = _ratio(dau, mau)
        parts = (adoption, stickiness, growth)
        pes = None if any(p is None for p in parts) else sum(parts) / 3  # type: ignore[arg-type]
        out.add("pes", day, segment, pes or 0.0, 1.0, value=pes, derive=False)


# --- voice of the customer ------------------------------------------------------------------
def voice_rows(
    *, settings: KpiSettings, first_day: date, last_day: date, using: str = "default"
) -> list[KpiRow]:
    """Return NPS (with promoter and detractor shares; the latest answer of each respondent in
    the 30 days ending the day) and CES (the day's answers) for each day of the range."""
    out = _Rows("day")
    common = {
        "dialect": dialect_of(using),
        "workspace_id": settings.workspace_id,
        "zone": settings.workspace.timezone,
        "first_day": first_day,
        "last_day": last_day,
    }
    everyone = {(d, "") for d in _days(first_day, last_day)}
    for prop in _segment_properties(settings):
        if settings.nps_event:
            query = nps_query(
                **common,
                nps_event=settings.nps_event,
                nps_property=settings.nps_score_property,
                segment_property=prop,
            )
            found = {
                (day_from_number(int(r["day"])), str(r["seg"])): r for r in execute(query, using)
            }
            for day, seg in sorted(set(found) | (everyone if not prop else set())):
                r = found.get((day, seg), {})
                segment = _label(prop, seg)
                answers = _f(r.get("respondents"))
                promoters, detractors = _f(r.get("promoters")), _f(r.get("detractors"))
                out.add("nps", day, segment, 100.0 * (promoters - detractors), answers)
                out.add("nps_promoters", day, segment, promoters, answers)
                out.add("nps_detractors", day, segment, detractors, answers)
        if settings.ces_event:
            query = voice_query(
                **common,
                ces_event=settings.ces_event,
                ces_property=settings.ces_score_property,
                ces_max=settings.ces_scale_max,
                segment_property=prop,
            )
            found = {
                (day_from_number(int(r["day"])), str(r["seg"])): r for r in execute(query, using)
            }
            for day, seg in sorted(set(found) | (everyone if not prop else set())):
                r = found.get((day, seg), {})
                out.add(
                    "ces", day, _label(prop, seg), _f(r.get("ces_sum")), _f(r.get("ces_answers"))
                )
    return out.rows


# --- value capture: MRR -----------------------------------------------------------------
def revenue_rows(
    *, settings: KpiSettings, first_day: date, last_day: date, using: str = "default"
) -> list[KpiRow]:
    """Return MRR at the end of each day, and the MRR added and churned on it."""
    out = _Rows("day")
    if not settings.revenue_event:
        return out.rows
    factor = 1 / 12 if settings.revenue_period == RevenuePeriod.ANNUAL else 1.0
    moves = {
        int(r["day"]): r
        for r in execute(
            revenue_query(
                dialect=dialect_of(using),
                workspace_id=settings.workspace_id,
                zone=settings.workspace.timezone,
                first_day=first_day,
                last_day=last_day,
                revenue_event=settings.revenue_event,
                amount_property=settings.revenue_property,
                monthly_factor=factor,
                churn_event=settings.revenue_churn_event,
                account_property=settings.account_property,
            ),
            using,
        )
    }
    mrr = _f(moves.get(-1, {}).get("net"))
    for day in _days(first_day, last_day):
        r = moves.get(day_number(day), {})
        mrr += _f(r.get("net"))
        out.add("mrr", day, "", mrr, 1.0)
        out.add("new_mrr", day, "", _f(r.get("added")), 1.0)
        out.add("churned_mrr", day, "", _f(r.get("lost")), 1.0)
    return out.rows


# --- signup cohorts -------------------------------------------------------------------------
def _cohort_periods(period: str, first_day: date, last_day: date) -> list[date]:
    if period == "day":
        return _days(first_day, last_day)
    weeks = []
    monday = monday_of(first_day)
    while monday <= last_day:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def cohort_rows(
    *,
    settings: KpiSettings,
    period: str,
    first_day: date,
    last_day: date,
    cutoff_us: int,
    using: str = "default",
) -> list[KpiRow]:
    """Return the cohort KPIs for each local day (or ISO week) of signups in the range.

    Weekly cohorts cover whole weeks: from the Monday of ``first_day`` to the Sunday of
    ``last_day``.
    """
    out = _Rows(period)
    if period == "week":
        first_day = monday_of(first_day)
        last_day = monday_of(last_day) + timedelta(days=6)
    for prop in _segment_properties(settings):
        found = {}
        for r in execute(
            cohort_query(
                dialect=dialect_of(using),
                workspace_id=settings.workspace_id,
                zone=settings.workspace.timezone,
                period="week" if period == "week" else "day",
                first_day=first_day,
                last_day=last_day,
                cutoff_us=cutoff_us,
                signup_event=settings.signup_event,
                activity=activity_of(settings),
                aha_event=settings.aha_event,
                activation_days=settings.activation_window_days,
                ttv_days=settings.ttv_window_days,
                paid_event=settings.paid_event,
                paid_days=settings.paid_window_days,
                segment_property=prop,
            ),
            using,
        ):
            number = int(r["grp"])
            start = day_from_number(number) if period == "day" else week_monday(number)
            found[(start, str(r["seg"]))] = r
        if settings.success_moments:
            _merge_moments(found, settings, period, first_day, last_day, cutoff_us, prop, using)
        keys = set(found)
        if not prop:
            keys |= {(d, "") for d in _cohort_periods(period, first_day, last_day)}
        for start, seg in sorted(keys):
            _cohort_point(out, settings, start, _label(prop, seg), found.get((start, seg), {}))
    return out.rows


def _moments(settings: KpiSettings) -> list[Moment]:
    return [Moment(**m) for m in settings.success_moments]


def _merge_moments(
    found: dict[tuple[date, str], dict[str, Any]],
    settings: KpiSettings,
    period: str,
    first_day: date,
    last_day: date,
    cutoff_us: int,
    prop: str,
    using: str,
) -> None:
    """Add each cohort's success-moment counts (``units_k``, ``reached_k``) to its row."""
    query = moments_query(
        dialect=dialect_of(using),
        workspace_id=settings.workspace_id,
        zone=settings.workspace.timezone,
        period="week" if period == "week" else "day",
        first_day=first_day,
        last_day=last_day,
        cutoff_us=cutoff_us,
        signup_event=settings.signup_event,
        moments=_moments(settings),
        segment_property=prop,
    )
    for r in execute(query, using):
        number = int(r["grp"])
        start = day_from_number(number) if period == "day" else week_monday(number)
        found.setdefault((start, str(r["seg"])), {"new_users": r["new_users"]}).update(r)


def _cohort_point(
    out: _Rows, settings: KpiSettings, start: date, segment: str, r: dict[str, Any]
) -> None:
    out.add("new_signups", start, segment, _f(r.get("new_users")), 1.0)
    for n in RETENTION_DAYS:
        out.add(
            f"retention_d{n}", start, segment, _f(r.get(f"d{n}_retained")), _f(r.get(f"d{n}_units"))
        )
    if settings.aha_event:
        out.add(
            "activation_rate", start, segment, _f(r.get("activated")), _f(r.get("activation_units"))
        )
        units, reached = _f(r.get("ttv_units")), _f(r.get("ttv_reached"))
        median = r.get("ttv_median_us")
        out.add(
            "time_to_value",
            start,
            segment,
            reached,
            units,
            value=float(median) / HOUR_US if median is not None else None,
            derive=False,
        )
        out.add("ttv_never_reached", start, segment, units - reached, units)
    for k, moment in enumerate(_moments(settings)):
        units, reached = _f(r.get(f"units_{k}")), _f(r.get(f"reached_{k}"))
        out.add("success_moment", start, segment, reached, units, dimension=moment.name)
    if settings.paid_event:
        out.add("free_to_paid", start, segment, _f(r.get("paid")), _f(r.get("paid_units")))


def cohort_table_rows(
    *,
    settings: KpiSettings,
    first_week: date,
    last_week: date,
    cutoff_us: int,
    weeks: int = COHORT_TABLE_WEEKS,
    using: str = "default",
) -> list[KpiRow]:
    """Return the weekly cohort retention table: one row per cohort week, segment and k."""
    out = _Rows("week")
    for prop in _segment_properties(settings):
        for r in execute(
            cohort_table_query(
                dialect=dialect_of(using),
                workspace_id=settings.workspace_id,
                zone=settings.workspace.timezone,
                first_week=first_week,
                last_week=last_week,
                weeks=weeks,
                cutoff_us=cutoff_us,
                signup_event=settings.signup_event,
                activity=activity_of(settings),
                segment_property=prop,
            ),
            using,
        ):
            out.add(
                "cohort_retention",
                week_monday(int(r["grp"])),
                _label(prop, r["seg"]),
                _f(r["retained"]),
                _f(r["units"]),
                dimension=str(int(r["k"])),
            )
    return out.rows


def daily_rows(
    *, settings: KpiSettings, first_day: date, last_day: date, using: str = "default"
) -> list[KpiRow]:
    """Return every daily KPI (activity, voice, revenue) for the days of the range."""
    rows: list[KpiRow] = []
    for compute in (activity_rows, voice_rows, revenue_rows):
        rows.extend(compute(settings=settings, first_day=first_day, last_day=last_day, using=using))
    return rows
