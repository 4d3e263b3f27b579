"""Reads of the KPI library's cache, scoped to one workspace: settings, the catalogue, a KPI's
series, the cohort retention table, feature adoption, segments, PQLs, feature requests and
recompute jobs. Reads never recompute from events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import QuerySet

from outcomes.kpis.catalog import KPIS, KpiDefinition, kpi_definition
from outcomes.kpis.models import (
    FeatureRequest,
    KpiPeriod,
    KpiSettings,
    KpiValue,
    ProductQualifiedLead,
)
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import BackgroundJob, Workspace

# --- the KPI library (reads of the cache only; never recompute from events) ------------------
KPI_NOT_FOUND = "No KPI {key!r}; see GET /api/v1/kpis/ for the catalogue."
USE_COHORT_TABLE = "The cohort retention table has its own read: /api/v1/kpis/cohort-table."
JOB_NOT_FOUND = "No job {id} in this workspace."
SERIES_RANGE_REVERSED = "'from' must be on or before 'to'."
SERIES_TOO_LONG = "A series covers at most {days} days."
MAX_SERIES_DAYS = 731


@dataclass(frozen=True)
class KpiPoint:
    period_start: date
    value: float | None
    numerator: float
    denominator: float
    computed: bool


@dataclass(frozen=True)
class KpiSeries:
    kpi: KpiDefinition
    interval: str
    segment: str
    dimension: str
    points: list[KpiPoint]
    computed_through: date | None
    last_computed_at: datetime | None


def _kpi(key: str) -> KpiDefinition:
    definition = kpi_definition(key)
    if definition is None:
        raise NotFound(KPI_NOT_FOUND.format(key=key), field="kpi")
    return definition


def _check_range(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise ValidationFailed(SERIES_RANGE_REVERSED, field="from")
    if (date_to - date_from).days > MAX_SERIES_DAYS:
        raise ValidationFailed(SERIES_TOO_LONG.format(days=MAX_SERIES_DAYS), field="to")


def kpi_settings_read(*, workspace: Workspace) -> KpiSettings:
    """Return the workspace's KPI settings (the defaults if never changed; nothing is written)."""
    return KpiSettings.objects.filter(workspace=workspace).first() or KpiSettings(
        workspace=workspace
    )


def kpi_is_configured(definition: KpiDefinition, settings: KpiSettings) -> bool:
    return all(getattr(settings, name) for name in definition.requires)


def kpi_catalog(*, workspace: Workspace) -> list[tuple[KpiDefinition, bool]]:
    """Return every KPI's definition and whether the workspace's settings let it be computed."""
    settings = kpi_settings_read(workspace=workspace)
    return [(k, kpi_is_configured(k, settings)) for k in KPIS]


def _week_points(definition: KpiDefinition, rows: list[KpiValue], mondays: list[date]):
    by_week: dict[date, list[KpiValue]] = defaultdict(list)
    for row in rows:
        by_week[row.date - timedelta(days=row.date.weekday())].append(row)
    points = []
    for monday in mondays:
        week = sorted(by_week.get(monday, []), key=lambda r: r.date)
        if not week:
            points.append(KpiPoint(monday, None, 0.0, 0.0, computed=False))
            continue
        if definition.weekly == "last":
            last = week[-1]
            points.append(KpiPoint(monday, last.value, last.numerator, last.denominator, True))
            continue
        numerator = sum(r.numerator for r in week)
        denominator = sum(r.denominator for r in week)
        if definition.weekly == "sum":
            value: float | None = numerator
        elif definition.key == "pes":  # a daily score: the week's average of defined days
            defined = [r.value for r in week if r.value is not None]
            value = sum(defined) / len(defined) if defined else None
        else:
            value = numerator / denominator if denominator else None
        points.append(KpiPoint(monday, value, numerator, denominator, computed=True))
    return points


def kpi_series(
    *,
    workspace: Workspace,
    kpi: str,
    date_from: date,
    date_to: date,
    interval: str = "day",
    segment: str = "",
    dimension: str = "",
) -> KpiSeries:
    """Return a KPI's cached values for each local day (or ISO week) of [date_from, date_to].

    Daily KPIs roll up into weeks by their catalogue rule; cohort KPIs have weekly cohorts of
    their own. Days never computed have ``computed=False`` and no value.
    """
    definition = _kpi(kpi)
    if definition.family == "cohort_table":
        raise ValidationFailed(USE_COHORT_TABLE, field="kpi")
    _check_range(date_from, date_to)
    native_week = definition.family == "cohort" and interval == "week"
    period = KpiPeriod.WEEK if native_week else KpiPeriod.DAY
    first = date_from - timedelta(days=date_from.weekday()) if interval == "week" else date_from
    last = date_to
    rows = list(
        KpiValue.objects.filter(
            workspace=workspace,
            kpi=kpi,
            period=period,
            segment=segment,
            dimension=dimension,
            date__gte=first,
            date__lte=last,
        ).order_by("date")
    )
    computed_days = set(
        KpiValue.objects.filter(
            workspace=workspace,
            kpi=kpi if not definition.has_dimension else "mau",
            period=period,
            segment="",
            date__gte=first,
            date__lte=last,
        ).values_list("date", flat=True)
    )
    counts = definition.unit in ("users", "currency")
    by_date = {r.date: r for r in rows}
    if interval == "week" and not native_week:
        mondays = [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
        filled = [
            by_date.get(day)
            or KpiValue(date=day, value=0.0 if counts else None, numerator=0.0, denominator=0.0)
            for day in sorted(computed_days)
        ]
        points = _week_points(definition, filled, mondays)
    else:
        step = 7 if native_week else 1
        points = []
        day = first
        while day <= last:
            row = by_date.get(day)
            if row is not None:
                points.append(KpiPoint(day, row.value, row.numerator, row.denominator, True))
            elif day in computed_days:  # computed, but no user of this segment or feature
                points.append(KpiPoint(day, 0.0 if counts else None, 0.0, 0.0, True))
            else:
                points.append(KpiPoint(day, None, 0.0, 0.0, computed=False))
            day += timedelta(days=step)
    settings = kpi_settings_read(workspace=workspace)
    return KpiSeries(
        kpi=definition,
        interval=interval,
        segment=segment,
        dimension=dimension,
        points=points,
        computed_through=settings.computed_through,
        last_computed_at=settings.last_computed_at,
    )


@dataclass(frozen=True)
class CohortCell:
    weeks_since_signup: int
    units: int
    retained: int
    value: float | None


@dataclass(frozen=True)
class CohortRow:
    cohort_start: date
    size: int
    cells: list[CohortCell]


def kpi_cohort_table(
    *, workspace: Workspace, date_from: date, date_to: date, segment: str = ""
) -> list[CohortRow]:
    """Return weekly signup cohorts (Mondays in the range) × weeks since signup, from the cache.

    A cell is present once every user of the cohort could have lived through that week.
    """
    _check_range(date_from, date_to)
    first = date_from - timedelta(days=date_from.weekday())
    cells: dict[date, list[CohortCell]] = defaultdict(list)
    for row in KpiValue.objects.filter(
        workspace=workspace,
        kpi="cohort_retention",
        period=KpiPeriod.WEEK,
        segment=segment,
        date__gte=first,
        date__lte=date_to,
    ):
        cells[row.date].append(
            CohortCell(int(row.dimension), int(row.denominator), int(row.numerator), row.value)
        )
    sizes = dict(
        KpiValue.objects.filter(
            workspace=workspace,
            kpi="new_signups",
            period=KpiPeriod.WEEK,
            segment=segment,
            date__gte=first,
            date__lte=date_to,
        ).values_list("date", "numerator")
    )
    weeks = sorted(set(cells) | set(sizes))
    return [
        CohortRow(
            cohort_start=week,
            size=int(sizes.get(week, 0)),
            cells=sorted(cells.get(week, []), key=lambda c: c.weeks_since_signup),
        )
        for week in weeks
    ]


@dataclass(frozen=True)
class FeatureAdoption:
    feature: str
    adopters: int
    active_users: int
    value: float | None


def kpi_feature_adoption(
    *, workspace: Workspace, on: date | None = None, segment: str = ""
) -> tuple[date | None, list[FeatureAdoption]]:
    """Return each feature's adoption on the latest computed day up to ``on``, most adopted
    first."""
    rows = KpiValue.objects.filter(
        workspace=workspace, kpi="feature_adoption", period=KpiPeriod.DAY, segment=segment
    )
    if on is not None:
        rows = rows.filter(date__lte=on)
    latest = rows.order_by("-date").values_list("date", flat=True).first()
    if latest is None:
        return None, []
    features = [
        FeatureAdoption(r.dimension, int(r.numerator), int(r.denominator), r.value)
        for r in rows.filter(date=latest)
    ]
    return latest, sorted(features, key=lambda f: (-(f.value or 0.0), f.feature))


@dataclass(frozen=True)
class MomentCohort:
    """A weekly signup cohort's success moments: (reached, matured users, rate) per moment
    name; the rate is None while no user has lived through the moment's window."""

    cohort_start: date
    size: int
    moments: dict[str, tuple[int, int, float | None]]


def kpi_success_moments(
    *, workspace: Workspace, on: date, segment: str = "", weeks: int = 8
) -> list[MomentCohort]:
    """Return the success moments of the last ``weeks`` weekly signup cohorts started by
    ``on``, latest first, from the cache."""
    rows = KpiValue.objects.filter(
        workspace=workspace,
        period=KpiPeriod.WEEK,
        segment=segment,
        kpi__in=["success_moment", "new_signups"],
        date__lte=on,
        date__gt=on - timedelta(days=7 * weeks),
    ).order_by("-date", "dimension")
    sizes: dict[date, int] = {}
    moments: dict[date, dict[str, tuple[int, int, float | None]]] = defaultdict(dict)
    for r in rows:
        if r.kpi == "new_signups":
            sizes[r.date] = int(r.numerator)
        else:
            moments[r.date][r.dimension] = (int(r.numerator), int(r.denominator), r.value)
    return [
        MomentCohort(week, sizes.get(week, 0), moments[week])
        for week in sorted(moments, reverse=True)
    ]


def kpi_segments(*, workspace: Workspace) -> list[str]:
    """Return the segments with cached values (for a segment picker)."""
    return list(
        KpiValue.objects.filter(workspace=workspace, kpi="mau", period=KpiPeriod.DAY)
        .exclude(segment="")
        .values_list("segment", flat=True)
        .distinct()
        .order_by("segment")
    )


def pqls_list(*, workspace: Workspace, plan: str | None = None) -> QuerySet[ProductQualifiedLead]:
    leads = ProductQualifiedLead.objects.filter(workspace=workspace)
    if plan:
        leads = leads.filter(plan=plan)
    return leads.order_by("-event_count", "unit_id")


def feature_requests_list(*, workspace: Workspace) -> QuerySet[FeatureRequest]:
    return FeatureRequest.objects.filter(workspace=workspace).order_by(
        "-arr", "-requests", "request"
    )


def job_get(*, workspace: Workspace, job_id: int) -> BackgroundJob:
    job = BackgroundJob.objects.filter(workspace=workspace, pk=job_id).first()
    if job is None:
        raise NotFound(JOB_NOT_FOUND.format(id=job_id), field="job")
    return job
