"""Keep the KPI cache fresh: plan the steps (a family of KPIs over a chunk of days), run each
step's statements and replace its cached rows, for the recent days on a schedule or for the
whole history after a settings change. Statements run on the app database unless an
``engine`` holding the workspace's events is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from metrics.public import Engine, ScanStats, engine_for_workspace, scan_collect
from outcomes.kpis import catalog as kpi_catalog
from outcomes.kpis.compute import (
    COHORT_TABLE_WEEKS,
    KpiRow,
    cohort_rows,
    cohort_table_rows,
    daily_rows,
    engine_for,
    execute,
)
from outcomes.kpis.lists import feature_requests_refresh, pqls_refresh
from outcomes.kpis.models import KpiPeriod, KpiSettings, KpiValue
from outcomes.kpis.queries.activity import first_event_query
from outcomes.kpis.queries.statement import RETENTION_DAYS
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import epoch_us, local_today, monday_of
from plg_platform.models import Event, Workspace

# Events arriving up to this many days late are picked up by the next refresh: the default of
# the KPI_LOOKBACK_DAYS setting (one family with METRICS_LOOKBACK_DAYS, docs/outcomes.md).
LATE_EVENT_DAYS = 3


def kpi_lookback_days() -> int:
    """Days before the last computed one that a refresh recomputes (``KPI_LOOKBACK_DAYS``)."""
    return int(getattr(django_settings, "KPI_LOOKBACK_DAYS", LATE_EVENT_DAYS))


# A first refresh (or one after a settings change) goes back at most this far.
MAX_HISTORY_DAYS = 400


# Daily KPIs are computed this many days per statement (and per progress step).
CHUNK_DAYS = 35


@dataclass(frozen=True)
class Step:
    """One unit of work: a family of KPIs over a range, written in one transaction."""

    family: str  # "daily", "cohort_day", "cohort_week", "cohort_table", "lists"
    first: date
    last: date


@dataclass
class RefreshResult:
    steps: int = 0
    rows_written: int = 0
    days: tuple[date, date] | None = None
    computed: list[str] = field(default_factory=list)
    # What the statements cost: statements, seconds, rows read (``metrics`` ScanStats).
    scan: dict[str, Any] = field(default_factory=dict)


def first_event_day(workspace: Workspace, engine: Engine | None = None) -> date | None:
    """Return the local day of the workspace's first event (in ``engine`` if given)."""
    if engine is None:
        found = Event.objects.filter(workspace=workspace).aggregate(first=Min("timestamp_us"))
        first = found["first"]
    else:
        query = first_event_query(dialect=engine.dialect, workspace_id=workspace.pk)
        first = execute(query, engine=engine)[0]["first_us"]
    if first is None:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(first))
    return moment.astimezone(ZoneInfo(workspace.timezone)).date()


def _cohort_lookback_days(settings: KpiSettings) -> int:
    """Days after signup during which a cohort's values can still change (its longest window)."""
    return max(
        settings.activation_window_days,
        settings.ttv_window_days,
        settings.paid_window_days,
        max(RETENTION_DAYS) + 1,
        *(m["window_days"] for m in settings.success_moments),
    )


def _chunks(first: date, last: date, size: int) -> list[tuple[date, date]]:
    out = []
    while first <= last:
        end = min(first + timedelta(days=size - 1), last)
        out.append((first, end))
        first = end + timedelta(days=1)
    return out


def plan_steps(
    *, settings: KpiSettings, first_day: date, last_day: date, floor: date
) -> list[Step]:
    """Return the steps that bring KPIs of days [first_day, last_day] up to date.

    Cohorts that started up to their longest window before ``first_day`` are recomputed too
    (their users were still maturing), never before ``floor`` (the first day with events).
    """
    steps = [Step("daily", a, b) for a, b in _chunks(first_day, last_day, CHUNK_DAYS)]
    cohort_first = max(first_day - timedelta(days=_cohort_lookback_days(settings)), floor)
    steps += [Step("cohort_day", a, b) for a, b in _chunks(cohort_first, last_day, CHUNK_DAYS)]
    monday = monday_of(cohort_first)
    steps += [
        Step("cohort_week", a, b)
        for a, b in _chunks(monday, last_day, CHUNK_DAYS)  # 5 whole weeks per step
    ]
    table_first = max(
        monday_of(first_day - timedelta(days=7 * (COHORT_TABLE_WEEKS + 1))),
        monday_of(floor),
    )
    steps += [Step("cohort_table", a, b) for a, b in _chunks(table_first, last_day, CHUNK_DAYS)]
    steps.append(Step("lists", last_day, last_day))
    return steps


def _family_kpis(family: str) -> tuple[tuple[str, ...], str]:
    if family == "daily":
        return kpi_catalog.DAILY_FAMILY_KPIS, KpiPeriod.DAY
    if family == "cohort_day":
        return kpi_catalog.COHORT_KPIS, KpiPeriod.DAY
    if family == "cohort_week":
        return kpi_catalog.COHORT_KPIS, KpiPeriod.WEEK
    return ("cohort_retention",), KpiPeriod.WEEK


def _write(
    *, settings: KpiSettings, family: str, first: date, last: date, rows: list[KpiRow]
) -> int:
    """Replace the family's cached rows of [first, last] (all segments) with ``rows``."""
    kpis, period = _family_kpis(family)
    now = timezone.now()
    with transaction.atomic():
        # One writer per workspace at a time: concurrent refreshes queue here (PostgreSQL),
        # so a delete and insert of the same range never interleave with another's.
        KpiSettings.objects.select_for_update().filter(pk=settings.pk).first()
        KpiValue.objects.filter(
            workspace_id=settings.workspace_id,
            kpi__in=kpis,
            period=period,
            date__gte=first,
            date__lte=last,
        ).delete()
        KpiValue.objects.bulk_create(
            [
                KpiValue(
                    workspace_id=settings.workspace_id,
                    kpi=r.kpi,
                    period=r.period,
                    date=r.date,
                    segment=r.segment,
                    dimension=r.dimension,
                    value=r.value if r.value is None or math.isfinite(r.value) else None,
                    numerator=r.numerator,
                    denominator=r.denominator,
                    computed_at=now,
                )
                for r in rows
            ],
            batch_size=2000,
        )
    return len(rows)


def run_step(
    *,
    settings: KpiSettings,
    step: Step,
    now: datetime,
    using: str = "default",
    engine: Engine | None = None,
) -> int:
    """Compute one step from events (on ``engine``, by default the app database ``using``)
    and replace its cached rows; return how many."""
    cutoff_us = epoch_us(now)
    engine = engine_for(engine, using)
    if step.family == "lists":
        return pqls_refresh(settings=settings, now=now, engine=engine) + feature_requests_refresh(
            settings=settings, now=now, engine=engine
        )
    if step.family == "daily":
        rows = daily_rows(
            settings=settings, first_day=step.first, last_day=step.last, engine=engine
        )
        first, last = step.first, step.last
    elif step.family in ("cohort_day", "cohort_week"):
        period = "day" if step.family == "cohort_day" else "week"
        rows = cohort_rows(
            settings=settings,
            period=period,
            first_day=step.first,
            last_day=step.last,
            cutoff_us=cutoff_us,
            engine=engine,
        )
        first, last = (
            (step.first, step.last)
            if period == "day"
            else (monday_of(step.first), monday_of(step.last))
        )
    else:
        rows = cohort_table_rows(
            settings=settings,
            first_week=step.first,
            last_week=step.last,
            cutoff_us=cutoff_us,
            engine=engine,
        )
        first, last = monday_of(step.first), monday_of(step.last)
    return _write(settings=settings, family=step.family, first=first, last=last, rows=rows)


def run_steps(
    *,
    settings: KpiSettings,
    steps: list[Step],
    now: datetime,
    on_progress: Callable[[int, int, Step], None] | None = None,
    engine: Engine | None = None,
) -> RefreshResult:
    result = RefreshResult()
    with scan_collect() as scanned:
        for i, step in enumerate(steps):
            result.rows_written += run_step(settings=settings, step=step, now=now, engine=engine)
            result.steps += 1
            if step.family not in result.computed:
                result.computed.append(step.family)
            if on_progress is not None:
                on_progress(i + 1, len(steps), step)
    result.scan = scan_report(settings=settings, scanned=scanned, now=now)
    return result


ROWS_COUNTED = (
    "counted: the workspace's events before the cut-off, the range the statements read "
    "(activity KPIs look back to each user's first event; each step reads it again)"
)


def scan_report(*, settings: KpiSettings, scanned: ScanStats, now: datetime) -> dict[str, Any]:
    """What a refresh's statements cost: statements and seconds as run, rows read as the
    database reports them, or (the app database cannot tell) counted."""
    report = scanned.as_dict()
    if scanned.rows_read is None:
        report["rows_read"] = Event.objects.filter(
            workspace_id=settings.workspace_id, timestamp_us__lt=epoch_us(now)
        ).count()
        report["rows_read_source"] = ROWS_COUNTED
    return report


def kpis_refresh(
    *,
    workspace: Workspace,
    now: datetime | None = None,
    full: bool = False,
    engine: Engine | None = None,
) -> RefreshResult:
    """Bring the workspace's KPI cache up to date, incrementally (see the module docstring).

    Safe to repeat and to run beside another refresh: every step replaces its rows with
    values computed from the events as they are.
    """
    now = now or timezone.now()
    engine = engine or engine_for_workspace(workspace)  # its own store, if routed there
    settings = kpi_settings_get(workspace=workspace)
    today = local_today(workspace, now)
    floor = first_event_day(workspace, engine)
    if floor is None:
        return RefreshResult()
    floor = max(floor, today - timedelta(days=MAX_HISTORY_DAYS))
    if full or settings.computed_through is None:
        first = floor
    else:
        first = max(settings.computed_through - timedelta(days=kpi_lookback_days()), floor)
    first = min(first, today)
    steps = plan_steps(settings=settings, first_day=first, last_day=today, floor=floor)
    result = run_steps(settings=settings, steps=steps, now=now, engine=engine)
    result.days = (first, today)
    KpiSettings.objects.filter(pk=settings.pk).update(
        computed_through=today, last_computed_at=now, updated_at=timezone.now()
    )
    return result
