"""Keep the KPI cache fresh: incremental refreshes on a schedule, recomputes on demand.

A refresh computes only what may have changed since the last one: daily KPIs for the days not
computed yet plus the last ``LATE_EVENT_DAYS`` (late events), signup cohorts whose windows had
not all passed, the weekly cohort table's unfinished cells, and the PQL and feature-request
lists. Each step replaces its rows (delete the range, insert the new values) in one
transaction, so a failed step leaves the previous values and a repeated step the same ones.
Reads (``outcomes.selectors``) only ever read these tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from outcomes.metrics import kpis as sql
from outcomes.metrics.runner import dialect_of
from outcomes.models import (
    FeatureRequest,
    KpiPeriod,
    KpiSettings,
    KpiValue,
    PqlUnit,
    ProductQualifiedLead,
)
from outcomes.services import kpi_catalog
from outcomes.services.kpi_compute import (
    COHORT_TABLE_WEEKS,
    KpiRow,
    cohort_rows,
    cohort_table_rows,
    daily_rows,
    execute,
)
from outcomes.services.kpi_settings import kpi_settings_get
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import BackgroundJob, Event, JobStatus, Workspace
from plg_platform.services.audit import audit_record
from plg_platform.services.jobs import job_create, job_fail, job_progress, job_start, job_succeed

# Events arriving up to this many days late are picked up by the next refresh.
LATE_EVENT_DAYS = 3
# A first refresh (or one after a settings change) goes back at most this far.
MAX_HISTORY_DAYS = 400
# Daily KPIs are computed this many days per statement (and per progress step).
CHUNK_DAYS = 35
RECOMPUTE_JOB_KIND = "kpi_recompute"
MAX_RECOMPUTE_DAYS = 731

RANGE_REVERSED = "'from' must be on or before 'to'."
RANGE_TOO_LONG = "Recompute at most {days} days at a time."
RANGE_IN_FUTURE = "'to' cannot be after today in the workspace's time zone ({today})."
RECOMPUTE_RUNNING = "A KPI recompute is already queued or running for this workspace (job {id})."


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


def local_today(workspace: Workspace, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(workspace.timezone)).date()


def _first_event_day(workspace: Workspace) -> date | None:
    first = Event.objects.filter(workspace=workspace).aggregate(first=Min("timestamp_us"))["first"]
    if first is None:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=first)
    return moment.astimezone(ZoneInfo(workspace.timezone)).date()


def _cohort_lookback_days(settings: KpiSettings) -> int:
    """Days after signup during which a cohort's values can still change (its longest window)."""
    return max(
        settings.activation_window_days,
        settings.ttv_window_days,
        settings.paid_window_days,
        max(sql.RETENTION_DAYS) + 1,
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
    monday = sql.monday_of(cohort_first)
    steps += [
        Step("cohort_week", a, b)
        for a, b in _chunks(monday, last_day, CHUNK_DAYS)  # 5 whole weeks per step
    ]
    table_first = max(
        sql.monday_of(first_day - timedelta(days=7 * (COHORT_TABLE_WEEKS + 1))),
        sql.monday_of(floor),
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


def run_step(*, settings: KpiSettings, step: Step, now: datetime, using: str = "default") -> int:
    """Compute one step from events and replace its cached rows; return how many."""
    cutoff_us = sql.instant_us(now)
    if step.family == "lists":
        return pqls_refresh(settings=settings, now=now, using=using) + feature_requests_refresh(
            settings=settings, now=now, using=using
        )
    if step.family == "daily":
        rows = daily_rows(settings=settings, first_day=step.first, last_day=step.last, using=using)
        first, last = step.first, step.last
    elif step.family in ("cohort_day", "cohort_week"):
        period = "day" if step.family == "cohort_day" else "week"
        rows = cohort_rows(
            settings=settings,
            period=period,
            first_day=step.first,
            last_day=step.last,
            cutoff_us=cutoff_us,
            using=using,
        )
        first, last = (
            (step.first, step.last)
            if period == "day"
            else (sql.monday_of(step.first), sql.monday_of(step.last))
        )
    else:
        rows = cohort_table_rows(
            settings=settings,
            first_week=step.first,
            last_week=step.last,
            cutoff_us=cutoff_us,
            using=using,
        )
        first, last = sql.monday_of(step.first), sql.monday_of(step.last)
    return _write(settings=settings, family=step.family, first=first, last=last, rows=rows)


def _run(
    *,
    settings: KpiSettings,
    steps: list[Step],
    now: datetime,
    on_progress: Callable[[int, int, Step], None] | None = None,
) -> RefreshResult:
    result = RefreshResult()
    for i, step in enumerate(steps):
        result.rows_written += run_step(settings=settings, step=step, now=now)
        result.steps += 1
        if step.family not in result.computed:
            result.computed.append(step.family)
        if on_progress is not None:
            on_progress(i + 1, len(steps), step)
    return result


def kpis_refresh(
    *, workspace: Workspace, now: datetime | None = None, full: bool = False
) -> RefreshResult:
    """Bring the workspace's KPI cache up to date, incrementally (see the module docstring).

    Safe to repeat and to run beside another refresh: every step replaces its rows with
    values computed from the events as they are.
    """
    now = now or timezone.now()
    settings = kpi_settings_get(workspace=workspace)
    today = local_today(workspace, now)
    floor = _first_event_day(workspace)
    if floor is None:
        return RefreshResult()
    floor = max(floor, today - timedelta(days=MAX_HISTORY_DAYS))
    if full or settings.computed_through is None:
        first = floor
    else:
        first = max(settings.computed_through - timedelta(days=LATE_EVENT_DAYS), floor)
    first = min(first, today)
    steps = plan_steps(settings=settings, first_day=first, last_day=today, floor=floor)
    result = _run(settings=settings, steps=steps, now=now)
    result.days = (first, today)
    KpiSettings.objects.filter(pk=settings.pk).update(
        computed_through=today, last_computed_at=now, updated_at=timezone.now()
    )
    return result


# --- on demand: a recompute of a period with progress --------------------------------------
def kpi_recompute_running(*, workspace: Workspace) -> BackgroundJob | None:
    """Return the workspace's recompute that is queued or running, if any (one at a time)."""
    return (
        BackgroundJob.objects.filter(
            workspace=workspace,
            kind=RECOMPUTE_JOB_KIND,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        .order_by("-created_at")
        .first()
    )


def _recompute_range(workspace: Workspace, date_from: date, date_to: date, now: datetime) -> None:
    if date_from > date_to:
        raise ValidationFailed(RANGE_REVERSED, field="from")
    if (date_to - date_from).days >= MAX_RECOMPUTE_DAYS:
        raise ValidationFailed(RANGE_TOO_LONG.format(days=MAX_RECOMPUTE_DAYS), field="to")
    today = local_today(workspace, now)
    if date_to > today:
        raise ValidationFailed(RANGE_IN_FUTURE.format(today=today.isoformat()), field="to")


@transaction.atomic
def kpi_recompute_request(
    *,
    workspace: Workspace,
    date_from: date,
    date_to: date,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> BackgroundJob:
    """Validate a recompute of [date_from, date_to] and create its job (the caller enqueues
    the task on commit). One recompute per workspace at a time."""
    now = now or timezone.now()
    _recompute_range(workspace, date_from, date_to, now)
    running = kpi_recompute_running(workspace=workspace)
    if running is not None:
        raise Conflict(RECOMPUTE_RUNNING.format(id=running.pk), field="job")
    job = job_create(
        workspace=workspace,
        kind=RECOMPUTE_JOB_KIND,
        subject=f"{date_from.isoformat()}..{date_to.isoformat()}",
        actor=actor,
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="kpi.recompute",
        obj=job,
        changes={"from": date_from.isoformat(), "to": date_to.isoformat()},
    )
    return job


def kpi_recompute_run(
    *,
    job: BackgroundJob,
    now: datetime | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
) -> RefreshResult:
    """Recompute the job's period, reporting progress after each step.

    An error fails the job, except one of ``retry_on`` (the caller will retry it): then the job
    stays running with the error as its message. Idempotent: a redelivered or retried job
    recomputes the same rows from the same events.
    """
    now = now or timezone.now()
    first_text, last_text = job.subject.split("..")
    first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    workspace = job.workspace
    settings = kpi_settings_get(workspace=workspace)
    floor = _first_event_day(workspace) or first
    steps = plan_steps(settings=settings, first_day=first, last_day=last, floor=min(floor, first))
    job_start(job=job, message=f"Recomputing {len(steps)} steps")

    def progress(done: int, total: int, step: Step) -> None:
        job_progress(job=job, progress=done / total, message=f"{step.family} {step.first}")

    try:
        result = _run(settings=settings, steps=steps, now=now, on_progress=progress)
    except Exception as error:
        text = f"{type(error).__name__}: {error}"
        if isinstance(error, retry_on):
            job_progress(job=job, progress=0.0, message=f"Retrying after {text}"[:500])
        else:
            job_fail(job=job, error=text)
        raise
    result.days = (first, last)
    job_succeed(
        job=job,
        result={
            "steps": result.steps,
            "rows_written": result.rows_written,
            "from": first.isoformat(),
            "to": last.isoformat(),
        },
    )
    return result


# --- cached lists: product-qualified leads and feature requests -------------------------------
def _at(us: int | None) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us or 0))


def pqls_refresh(*, settings: KpiSettings, now: datetime, using: str = "default") -> int:
    """Replace the workspace's PQL list: units with at least K PQL events in the last D days."""
    leads: list[ProductQualifiedLead] = []
    if settings.pql_event:
        cutoff_us = sql.instant_us(now)
        account = settings.account_property if settings.pql_unit == PqlUnit.ACCOUNT else ""
        rows = execute(
            sql.pql_query(
                dialect=dialect_of(using),
                workspace_id=settings.workspace_id,
                event=settings.pql_event,
                min_count=settings.pql_min_count,
                since_us=cutoff_us - settings.pql_window_days * sql.DAY_US,
                cutoff_us=cutoff_us,
                account_property=account,
                arr_property=settings.arr_property,
                plan_property=settings.plan_property,
            ),
            using,
        )
        leads = [
            ProductQualifiedLead(
                workspace_id=settings.workspace_id,
                unit_type=settings.pql_unit,
                unit_id=str(r["unit_id"])[:200],
                event_count=int(r["event_count"]),
                users=int(r["users"]),
                first_event_at=_at(r["first_us"]),
                last_event_at=_at(r["last_us"]),
                qualified_at=_at(r["qualified_us"]),
                plan=str(r["plan"] or "")[:200],
                arr=float(r["arr"]) if r["arr"] is not None else None,
                computed_at=now,
            )
            for r in rows
        ]
    with transaction.atomic():
        ProductQualifiedLead.objects.filter(workspace_id=settings.workspace_id).delete()
        ProductQualifiedLead.objects.bulk_create(leads, batch_size=2000)
    return len(leads)


def feature_requests_refresh(
    *, settings: KpiSettings, now: datetime, using: str = "default"
) -> int:
    """Replace the workspace's feature requests of the last feedback window."""
    requests: list[FeatureRequest] = []
    if settings.feedback_event and settings.feedback_property:
        cutoff_us = sql.instant_us(now)
        rows = execute(
            sql.feature_request_query(
                dialect=dialect_of(using),
                workspace_id=settings.workspace_id,
                event=settings.feedback_event,
                text_property=settings.feedback_property,
                since_us=cutoff_us - settings.feedback_window_days * sql.DAY_US,
                cutoff_us=cutoff_us,
                account_property=settings.account_property,
                arr_property=settings.arr_property,
                topics=[(t["topic"], t["keywords"]) for t in settings.feedback_topics],
            ),
            using,
        )
        by_key: dict[str, FeatureRequest] = {}
        for r in rows:  # most valuable first
            key = str(r["request"])[:500]
            # Requests longer than the column that share its first characters are one row.
            by_key.setdefault(
                key,
                FeatureRequest(
                    workspace_id=settings.workspace_id,
                    request=key,
                    text=str(r["text"])[:500],
                    requests=int(r["requests"]),
                    accounts=int(r["accounts"]),
                    arr=float(r["arr"] or 0.0),
                    first_requested_at=_at(r["first_us"]),
                    last_requested_at=_at(r["last_us"]),
                    computed_at=now,
                ),
            )
        requests = list(by_key.values())
    with transaction.atomic():
        FeatureRequest.objects.filter(workspace_id=settings.workspace_id).delete()
        FeatureRequest.objects.bulk_create(requests, batch_size=2000)
    return len(requests)
