"""The KPI dashboard as data: one card per KPI with its current window's value, the previous
window's and a short daily series, read from the cache.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from outcomes.kpis.catalog import KPIS, KpiDefinition
from outcomes.kpis.models import FeatureRequest, KpiPeriod, KpiValue, ProductQualifiedLead
from outcomes.kpis.selectors import (
    FeatureAdoption,
    KpiPoint,
    feature_requests_list,
    kpi_feature_adoption,
    kpi_is_configured,
    kpi_settings_read,
)
from plg_platform.clock import local_today
from plg_platform.models import Workspace

CARD_SERIES_DAYS = 30


# Cards look back this far: a 28-day window of matured day-30 cohorts and the one before it.
CARD_LOOKBACK_DAYS = 130


# Cohort and survey KPIs are shown over a trailing window (days) on the dashboard.
CARD_WINDOW_DAYS = {"cohort": 28, "voice": 30}


@dataclass(frozen=True)
class KpiCard:
    """One KPI on the dashboard: its value over a trailing window ending ``window_end``, the
    same window one period earlier, and the last 30 days of daily values."""

    kpi: KpiDefinition
    configured: bool
    value: float | None
    previous_value: float | None
    window_days: int
    window_end: date
    series: list[KpiPoint]


@dataclass(frozen=True)
class KpiDashboard:
    as_of: date
    computed_through: date | None
    last_computed_at: datetime | None
    segment: str
    value_creation: list[KpiCard]
    value_capture: list[KpiCard]
    feature_adoption: list[FeatureAdoption]
    top_feature_requests: list[FeatureRequest]
    pql_count: int


def last_complete_day(workspace: Workspace, computed_through: date | None) -> date:
    """Return the day before the last computed one, or yesterday: never today (partial)."""
    return (computed_through or local_today(workspace)) - timedelta(days=1)


def _window_value(definition: KpiDefinition, rows: list[KpiValue]) -> float | None:
    """Aggregate the cached days of a trailing window (see ``_card``)."""
    if not rows:
        return None
    numerator = sum(r.numerator for r in rows)
    if definition.key == "dau":  # the average day
        return numerator / len(rows)
    if definition.weekly == "last" or definition.family == "activity":
        return rows[-1].value
    if definition.weekly == "sum" or definition.unit == "users":  # flows and cohort sizes
        return numerator
    denominator = sum(r.denominator for r in rows)
    return numerator / denominator if denominator else None


def _card(
    definition: KpiDefinition,
    configured: bool,
    rows: list[KpiValue],
    as_of: date,
    cohort_sizes: dict[date, float],
) -> KpiCard:
    """Rolling-window KPIs (MAU, churn…) show their value on ``as_of`` and DAU the average of
    the last 7 days; flows (NPS, MRR moves) the last 30 days; cohort KPIs the last 28 days of
    fully matured cohorts (every user of the cohort has lived through the window, so day-30
    retention looks back at least 31 days). Time to value, a median, is read from weekly
    cohorts by ``kpi_dashboard``."""
    window = 1
    if definition.family in CARD_WINDOW_DAYS:
        window = CARD_WINDOW_DAYS[definition.family]
    elif definition.weekly == "sum":
        window = 30
    elif definition.key == "dau":
        window = 7
    end = as_of
    if definition.family == "cohort" and definition.unit != "users":
        complete = [
            r.date
            for r in rows
            if r.date <= as_of and r.denominator > 0 and r.denominator == cohort_sizes.get(r.date)
        ]
        end = complete[-1] if complete else as_of
    current = [r for r in rows if end - timedelta(days=window) < r.date <= end]
    previous_end = end - timedelta(days=max(window, 7))
    previous = [r for r in rows if previous_end - timedelta(days=window) < r.date <= previous_end]
    series = [
        KpiPoint(r.date, r.value, r.numerator, r.denominator, True)
        for r in rows
        if as_of - timedelta(days=CARD_SERIES_DAYS) < r.date <= as_of
    ]
    return KpiCard(
        kpi=definition,
        configured=configured,
        value=_window_value(definition, current),
        previous_value=_window_value(definition, previous),
        window_days=window,
        window_end=end,
        series=series,
    )


def _median_card(
    definition: KpiDefinition,
    configured: bool,
    weeks: list[KpiValue],
    sizes: dict[date, float],
    daily: list[KpiValue],
    as_of: date,
) -> KpiCard:
    """Time to value: the median of the latest fully matured weekly cohort (and the week
    before), since medians of days cannot be combined."""
    complete = [
        w
        for w in weeks
        if w.date + timedelta(days=6) <= as_of
        and w.denominator
        and w.denominator == sizes.get(w.date)
    ]
    current = complete[-1] if complete else None
    previous = complete[-2] if len(complete) > 1 else None
    return KpiCard(
        kpi=definition,
        configured=configured,
        value=current.value if current else None,
        previous_value=previous.value if previous else None,
        window_days=7,
        window_end=current.date + timedelta(days=6) if current else as_of,
        series=[
            KpiPoint(r.date, r.value, r.numerator, r.denominator, True)
            for r in daily
            if as_of - timedelta(days=CARD_SERIES_DAYS) < r.date <= as_of
        ],
    )


def kpi_dashboard(
    *, workspace: Workspace, on: date | None = None, segment: str = ""
) -> KpiDashboard:
    """Return the KPI dashboard: value-creation KPIs (team goals) apart from value-capture
    ones (revenue, for finance and leadership), each with its definition, current value,
    the value one window earlier and a 30-day series; plus feature adoption, the top feature
    requests and the number of PQLs. Everything comes from the cache.

    ``on`` defaults to the last complete day: the day before the last computed one (today's
    values are partial), or yesterday when nothing has been computed yet. A card whose window
    ends earlier (matured cohorts) says so by its ``window_end``.
    """
    settings = kpi_settings_read(workspace=workspace)
    if on is None:
        on = last_complete_day(workspace, settings.computed_through)
    lookback = on - timedelta(days=CARD_LOOKBACK_DAYS)
    rows: dict[str, list[KpiValue]] = defaultdict(list)
    for row in KpiValue.objects.filter(
        workspace=workspace,
        period=KpiPeriod.DAY,
        segment=segment,
        dimension="",
        date__gt=lookback,
        date__lte=on,
    ).order_by("date"):
        rows[row.kpi].append(row)
    weekly: dict[str, list[KpiValue]] = defaultdict(list)
    for row in KpiValue.objects.filter(
        workspace=workspace,
        period=KpiPeriod.WEEK,
        kpi__in=["time_to_value", "new_signups"],
        segment=segment,
        date__gt=lookback,
        date__lte=on,
    ).order_by("date"):
        weekly[row.kpi].append(row)
    daily_sizes = {r.date: r.numerator for r in rows["new_signups"]}
    weekly_sizes = {r.date: r.numerator for r in weekly["new_signups"]}
    cards: dict[str, list[KpiCard]] = {"value_creation": [], "value_capture": []}
    for definition in KPIS:
        if definition.has_dimension:
            continue
        configured = kpi_is_configured(definition, settings)
        if definition.key == "time_to_value":
            card = _median_card(
                definition,
                configured,
                weekly[definition.key],
                weekly_sizes,
                rows[definition.key],
                on,
            )
        else:
            card = _card(definition, configured, rows[definition.key], on, daily_sizes)
        cards[definition.kind].append(card)
    _, features = kpi_feature_adoption(workspace=workspace, on=on, segment=segment)
    return KpiDashboard(
        as_of=on,
        computed_through=settings.computed_through,
        last_computed_at=settings.last_computed_at,
        segment=segment,
        value_creation=cards["value_creation"],
        value_capture=cards["value_capture"],
        feature_adoption=features,
        top_feature_requests=list(feature_requests_list(workspace=workspace)[:5]),
        pql_count=ProductQualifiedLead.objects.filter(workspace=workspace).count(),
    )
