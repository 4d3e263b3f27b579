"""Reads of the outcomes app, always scoped to one workspace: metrics, the KPI library's
cache (series, cohort table, dashboard, PQLs, feature requests) and OKRs (objectives, key
results with their progress and status, check-ins, initiatives, linked experiments).

Pages and the API read through these; KPI reads never recompute from events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import QuerySet

from outcomes.models import (
    BaselineChange,
    CheckIn,
    FeatureRequest,
    Initiative,
    KeyResult,
    KpiPeriod,
    KpiSettings,
    KpiValue,
    Metric,
    Objective,
    ProductQualifiedLead,
    ValueSource,
)
from outcomes.services.key_result_values import progress, status, time_elapsed
from outcomes.services.kpi_catalog import KPIS, KpiDefinition, kpi_definition
from outcomes.services.kpis import local_today
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import BackgroundJob, Workspace

METRIC_NOT_FOUND = "No metric {key!r} in this workspace."


def metrics_list(*, workspace: Workspace) -> QuerySet[Metric]:
    return Metric.objects.filter(workspace=workspace).order_by("key")


def metric_get(*, workspace: Workspace, key: str) -> Metric:
    """Return the workspace's metric ``key``; another workspace's metric is simply not found."""
    metric = Metric.objects.filter(workspace=workspace, key=key).first()
    if metric is None:
        raise NotFound(METRIC_NOT_FOUND.format(key=key), field="key")
    return metric


# --- the KPI library (reads of the cache only; never recompute from events) ------------------
KPI_NOT_FOUND = "No KPI {key!r}; see GET /api/v1/kpis/ for the catalogue."
USE_COHORT_TABLE = "The cohort retention table has its own read: /api/v1/kpis/cohort-table."
JOB_NOT_FOUND = "No job {id} in this workspace."
SERIES_RANGE_REVERSED = "'from' must be on or before 'to'."
SERIES_TOO_LONG = "A series covers at most {days} days."
MAX_SERIES_DAYS = 731
CARD_SERIES_DAYS = 30
# Cards look back this far: a 28-day window of matured day-30 cohorts and the one before it.
CARD_LOOKBACK_DAYS = 130
# Cohort and survey KPIs are shown over a trailing window (days) on the dashboard.
CARD_WINDOW_DAYS = {"cohort": 28, "voice": 30}


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

    ``on`` defaults to the last computed day before today (today's values are partial).
    """
    settings = kpi_settings_read(workspace=workspace)
    if on is None:
        through = settings.computed_through
        on = through - timedelta(days=1) if through else local_today(workspace)
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


# --- objectives and key results -------------------------------------------------------------
OBJECTIVE_NOT_FOUND = "No objective {id} in this workspace."
KEY_RESULT_NOT_FOUND = "No key result {id} in this workspace."
CHECK_IN_NOT_FOUND = "No check-in {id} in this workspace."
INITIATIVE_NOT_FOUND = "No initiative {id} in this workspace."


def objectives_list(
    *, workspace: Workspace, on: date | None = None, team: str | None = None
) -> QuerySet[Objective]:
    """Return the workspace's objectives (those whose period holds ``on``, of ``team``)."""
    objectives = Objective.objects.filter(workspace=workspace)
    if on is not None:
        objectives = objectives.filter(period_start__lte=on, period_end__gte=on)
    if team:
        objectives = objectives.filter(team=team)
    return objectives.select_related("owner", "parent").order_by("-period_start", "title", "id")


def objective_get(*, workspace: Workspace, objective_id: int, field: str = "id") -> Objective:
    """Return the workspace's objective; another workspace's is simply not found (404)."""
    objective = (
        Objective.objects.filter(workspace=workspace, pk=objective_id)
        .select_related("owner", "parent", "workspace")
        .first()
    )
    if objective is None:
        raise NotFound(OBJECTIVE_NOT_FOUND.format(id=objective_id), field=field)
    return objective


def key_results_list(
    *, workspace: Workspace, objective_id: int | None = None
) -> QuerySet[KeyResult]:
    key_results = KeyResult.objects.filter(workspace=workspace)
    if objective_id is not None:
        key_results = key_results.filter(objective_id=objective_id)
    return (
        key_results.select_related("objective", "metric", "workspace")
        .prefetch_related("check_ins")
        .order_by("objective_id", "id")
    )


def key_result_get(*, workspace: Workspace, key_result_id: int) -> KeyResult:
    """Return the workspace's key result (the experiments app links experiments through this)."""
    key_result = (
        KeyResult.objects.filter(workspace=workspace, pk=key_result_id)
        .select_related("objective", "metric", "workspace")
        .first()
    )
    if key_result is None:
        raise NotFound(KEY_RESULT_NOT_FOUND.format(id=key_result_id), field="id")
    return key_result


def check_in_get(*, workspace: Workspace, check_in_id: int) -> CheckIn:
    check_in = (
        CheckIn.objects.filter(key_result__workspace=workspace, pk=check_in_id)
        .select_related("key_result__workspace")
        .first()
    )
    if check_in is None:
        raise NotFound(CHECK_IN_NOT_FOUND.format(id=check_in_id), field="id")
    return check_in


def check_ins_list(*, key_result: KeyResult) -> QuerySet[CheckIn]:
    return key_result.check_ins.select_related("created_by").order_by("date", "created_at", "id")


def initiatives_list(
    *, workspace: Workspace, key_result_id: int | None = None
) -> QuerySet[Initiative]:
    initiatives = Initiative.objects.filter(workspace=workspace)
    if key_result_id is not None:
        initiatives = initiatives.filter(key_results__pk=key_result_id)
    return (
        initiatives.prefetch_related("key_results")
        .select_related("owner")
        .order_by("-created_at", "id")
    )


def initiative_get(*, workspace: Workspace, initiative_id: int) -> Initiative:
    initiative = (
        Initiative.objects.filter(workspace=workspace, pk=initiative_id)
        .prefetch_related("key_results")
        .first()
    )
    if initiative is None:
        raise NotFound(INITIATIVE_NOT_FOUND.format(id=initiative_id), field="id")
    return initiative


@dataclass(frozen=True)
class KeyResultSummary:
    """Where a key result stands today (see ``outcomes.services.key_result_values``)."""

    key_result: KeyResult
    baseline: float | None
    target: float
    current: float | None
    current_date: date | None
    progress: float | None
    time_elapsed: float
    status: str
    confidence: int | None
    last_comment: str


def key_result_summary(*, key_result: KeyResult, today: date | None = None) -> KeyResultSummary:
    """Return baseline, target, current value (the latest check-in with a value), progress,
    the share of the period elapsed, status, and the latest manual confidence and comment."""
    objective = key_result.objective
    today = today or local_today(key_result.workspace)
    check_ins = sorted(key_result.check_ins.all(), key=lambda c: (c.date, c.created_at, c.pk))
    with_value = [c for c in check_ins if c.value is not None]
    manual = [c for c in check_ins if c.source == ValueSource.MANUAL]
    current = with_value[-1] if with_value else None
    progress_value = progress(
        baseline=key_result.baseline,
        target=key_result.target,
        current=current.value if current else None,
    )
    elapsed = time_elapsed(
        period_start=objective.period_start,
        period_end=objective.period_end,
        on=min(today, objective.period_end),
    )
    return KeyResultSummary(
        key_result=key_result,
        baseline=key_result.baseline,
        target=key_result.target,
        current=current.value if current else None,
        current_date=current.date if current else None,
        progress=progress_value,
        time_elapsed=elapsed,
        status=status(progress_value=progress_value, elapsed=elapsed),
        confidence=manual[-1].confidence if manual else None,
        last_comment=manual[-1].comment if manual else "",
    )


# The experiments app lives above outcomes, so outcomes never imports it. It registers a
# provider (in its AppConfig.ready) that returns the experiments linked to a key result.
@dataclass(frozen=True)
class LinkedExperiment:
    key: str
    name: str
    status: str
    outcome: str  # e.g. "won", "lost", "inconclusive", "running"
    estimated_impact: float | None  # on the key result's metric, in its units (or relative)
    impact_description: str = ""


LinkedExperimentsProvider = Callable[[KeyResult], Sequence[LinkedExperiment]]
_linked_experiments_providers: list[LinkedExperimentsProvider] = []


def register_linked_experiments_provider(provider: LinkedExperimentsProvider) -> None:
    """Let a higher layer (experiments) list the experiments linked to a key result."""
    if provider not in _linked_experiments_providers:
        _linked_experiments_providers.append(provider)


def key_result_experiments(*, key_result: KeyResult) -> list[LinkedExperiment]:
    """Return the experiments linked to the key result, from every registered provider."""
    return [e for provider in _linked_experiments_providers for e in provider(key_result)]


@dataclass(frozen=True)
class KeyResultDetail:
    summary: KeyResultSummary
    check_ins: list[CheckIn]
    baseline_history: list[BaselineChange]
    initiatives: list[Initiative]
    experiments: list[LinkedExperiment]


def key_result_detail(*, key_result: KeyResult, today: date | None = None) -> KeyResultDetail:
    """Return everything a key result's page shows."""
    return KeyResultDetail(
        summary=key_result_summary(key_result=key_result, today=today),
        check_ins=list(check_ins_list(key_result=key_result)),
        baseline_history=list(key_result.baseline_changes.select_related("changed_by")),
        initiatives=list(key_result.initiatives.select_related("owner").order_by("-created_at")),
        experiments=key_result_experiments(key_result=key_result),
    )


@dataclass(frozen=True)
class ObjectiveNode:
    objective: Objective
    key_results: list[KeyResultSummary]
    children: list[ObjectiveNode]
    status: str  # the worst status of its key results


_STATUS_ORDER = ("off_track", "at_risk", "on_track", "no_data")


def objective_tree(
    *, workspace: Workspace, on: date | None = None, today: date | None = None
) -> list[ObjectiveNode]:
    """Return the objectives (of the period holding ``on``, if given) as an alignment tree,
    each with its key results' summaries. Three queries whatever the size."""
    objectives = list(objectives_list(workspace=workspace, on=on))
    ids = {o.pk for o in objectives}
    summaries: dict[int, list[KeyResultSummary]] = defaultdict(list)
    for key_result in key_results_list(workspace=workspace).filter(objective_id__in=ids):
        summaries[key_result.objective_id].append(
            key_result_summary(key_result=key_result, today=today)
        )
    children: dict[int | None, list[Objective]] = defaultdict(list)
    for objective in objectives:
        parent = objective.parent_id if objective.parent_id in ids else None
        children[parent].append(objective)

    def node(objective: Objective) -> ObjectiveNode:
        krs = summaries.get(objective.pk, [])
        worst = min(
            (s.status for s in krs if s.status != "no_data"),
            key=_STATUS_ORDER.index,
            default="no_data",
        )
        return ObjectiveNode(
            objective=objective,
            key_results=krs,
            children=[node(child) for child in children.get(objective.pk, [])],
            status=worst,
        )

    return [node(root) for root in children.get(None, [])]
