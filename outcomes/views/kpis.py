"""The KPI pages: the dashboard (value creation apart from value capture, each KPI with its
definition beside the number; active users and stickiness, the retention cohort heat map,
activation and time to value, PES with its parts, NPS and CES, feature adoption, feature
requests by ARR, PQLs), the PQL list, the KPI settings, and a recompute with live progress.

Every number comes from the KPI cache through ``outcomes.selectors``: no page computes a KPI
from events. A recompute is a Celery job; the page polls ``/api/v1/kpis/jobs/<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from outcomes.forms.kpis import (
    DEFAULT_PERIOD_DAYS,
    SETTINGS_GROUPS,
    KpiFilterForm,
    KpiSettingsForm,
    RecomputeForm,
)
from outcomes.selectors import (
    CohortRow,
    FeatureAdoption,
    KpiCard,
    KpiDashboard,
    job_get,
    kpi_cohort_table,
    kpi_dashboard,
    kpi_segments,
    kpi_series,
    kpi_settings_read,
    pqls_list,
)
from outcomes.services.kpi_settings import kpi_settings_update
from outcomes.services.kpis import kpi_recompute_request, kpi_recompute_running, local_today
from outcomes.tasks import recompute_kpis
from outcomes.views.base import (
    EDITORS_ONLY,
    attach_errors,
    change_text,
    chart_json,
    finite,
    format_value,
    series_points,
    workspace_page,
)
from plg_platform.errors import DomainError, NotFound
from plg_platform.models import BackgroundJob, Membership, Role, Workspace

PQLS_SHOWN = 10
PQL_PAGE_SIZE = 50
REQUESTS_SHOWN = 5
RECOMPUTE_QUEUED = "Recompute of {first} to {last} queued."
SETTINGS_SAVED = (
    "KPI settings saved. Values already cached were counted under the old settings: recompute "
    "the period to see the new ones (the next hourly refresh recomputes everything)."
)
SETTINGS_UNCHANGED = "Nothing changed."
# The dashboard's cards, by topic. A KPI of the catalogue missing here lands in "Other".
CREATION_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("active", "Active users", ("dau", "wau", "mau")),
    (
        "stickiness",
        "Stickiness",
        ("stickiness_dau_mau", "stickiness_dau_wau", "stickiness_wau_mau"),
    ),
    (
        "growth",
        "Growth and churn",
        ("new_users", "resurrected_users", "churned_users", "churn_rate", "growth_ratio"),
    ),
    (
        "activation",
        "Activation and time to value",
        ("new_signups", "activation_rate", "time_to_value", "ttv_never_reached"),
    ),
    ("retention", "Retention", ("retention_d1", "retention_d7", "retention_d30")),
    ("engagement", "Engagement", ("pes", "core_adoption")),
    ("voice", "Voice of the customer", ("nps", "nps_promoters", "nps_detractors", "ces")),
)
CAPTURE_ORDER = ("mrr", "new_mrr", "churned_mrr", "free_to_paid")
SETTING_LABELS = {
    "aha_event": "an Aha event",
    "core_events": "core events",
    "feature_events": "feature events",
    "paid_event": "a paid event",
    "nps_event": "an NPS event",
    "ces_event": "a CES event",
    "revenue_event": "a revenue event",
}
# The cohort heat map's colour scale, from no retention to the table's highest later week.
HEAT_LOW = (238, 242, 251)
HEAT_HIGH = (31, 58, 138)
COLOURS = {"blue": "#2f54c8", "green": "#1f7a3d", "orange": "#b35c00", "purple": "#6b3fa0"}


# --- cards ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardView:
    key: str
    name: str
    definition: str
    configured: bool
    needs: str  # what the settings miss, when not configured
    value: str
    previous: str
    change: str
    window: str
    raw: float | None


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _window_text(card: KpiCard) -> str:
    definition = card.kpi
    end = _day(card.window_end)
    if definition.key == "time_to_value":
        return f"signups in the week of {_day(card.window_end - timedelta(days=6))}"
    if definition.key == "dau":
        return f"average day of the 7 days to {end}"
    if definition.family == "cohort":
        return f"signups in the {card.window_days} days to {end}"
    if card.window_days > 1:
        return f"the {card.window_days} days to {end}"
    return f"on {end}"


def card_view(card: KpiCard) -> CardView:
    definition = card.kpi
    unit = definition.unit
    needs = ", ".join(SETTING_LABELS.get(name, name) for name in definition.requires)
    return CardView(
        key=definition.key,
        name=definition.name,
        definition=definition.definition,
        configured=card.configured,
        needs=needs,
        value=format_value(card.value, unit),
        previous=format_value(card.previous_value, unit),
        change=change_text(card.value, card.previous_value, unit),
        window=_window_text(card),
        raw=finite(card.value),
    )


@dataclass(frozen=True)
class CardGroup:
    key: str
    title: str
    cards: list[CardView]


def creation_groups(dashboard: KpiDashboard) -> list[CardGroup]:
    by_key = {card.kpi.key: card for card in dashboard.value_creation}
    groups = []
    placed: set[str] = set()
    for key, title, keys in CREATION_GROUPS:
        cards = [card_view(by_key[k]) for k in keys if k in by_key]
        placed.update(keys)
        if cards:
            groups.append(CardGroup(key, title, cards))
    rest = [card_view(c) for c in dashboard.value_creation if c.kpi.key not in placed]
    if rest:
        groups.append(CardGroup("other", "Other", rest))
    return groups


def capture_cards(dashboard: KpiDashboard) -> list[CardView]:
    order = {key: i for i, key in enumerate(CAPTURE_ORDER)}
    cards = sorted(dashboard.value_capture, key=lambda c: order.get(c.kpi.key, len(order)))
    return [card_view(c) for c in cards]


@dataclass(frozen=True)
class PesParts:
    """The Product Engagement Score and its three parts, on the dashboard's day."""

    score: str
    adoption: str
    stickiness: str
    growth: str
    growth_ratio: str


def pes_parts(dashboard: KpiDashboard) -> PesParts | None:
    cards = {card.kpi.key: card for card in dashboard.value_creation}
    pes = cards.get("pes")
    if pes is None or not pes.configured:
        return None

    def value(key: str) -> float | None:
        card = cards.get(key)
        return finite(card.value) if card is not None else None

    ratio = value("growth_ratio")
    growth = ratio / (1 + ratio) if ratio is not None else None
    return PesParts(
        score=format_value(value("pes"), "share"),
        adoption=format_value(value("core_adoption"), "share"),
        stickiness=format_value(value("stickiness_dau_mau"), "share"),
        growth=format_value(growth, "share"),
        growth_ratio=format_value(ratio, "ratio"),
    )


# --- charts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    """A chart's JSON and the same numbers as table rows (for screen readers and print)."""

    config: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


def _lines_chart(
    workspace: Workspace,
    keys: tuple[tuple[str, str], ...],
    date_from: date,
    date_to: date,
    segment: str,
    *,
    interval: str = "day",
    unit: str,
    axis: str,
) -> Chart:
    series = {
        key: kpi_series(
            workspace=workspace,
            kpi=key,
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            segment=segment,
        )
        for key, _colour in keys
    }
    first = next(iter(series.values()))
    labels = [p.period_start for p in first.points]
    config = {
        "labels": [d.isoformat() for d in labels],
        "series": [
            {
                "label": series[key].kpi.name,
                "values": series_points(p.value for p in series[key].points),
                "colour": COLOURS[colour],
            }
            for key, colour in keys
        ],
        "unit": unit,
        "axis": axis,
    }
    rows = [
        (
            _day(day) if interval == "day" else f"Week of {_day(day)}",
            [
                format_value(series[key].points[i].value, series[key].kpi.unit)
                if series[key].points[i].computed
                else "not computed"
                for key, _colour in keys
            ],
        )
        for i, day in enumerate(labels)
    ]
    return Chart(chart_json(config), [series[k].kpi.name for k, _ in keys], rows)


@dataclass(frozen=True)
class CohortCellView:
    weeks: int
    text: str
    detail: str
    style: str


@dataclass(frozen=True)
class CohortRowView:
    label: str
    size: str
    cells: list[CohortCellView | None]


def _mix(low: tuple[int, int, int], high: tuple[int, int, int], t: float) -> tuple[int, ...]:
    return tuple(round(a + (b - a) * t) for a, b in zip(low, high, strict=True))


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def heat_style(value: float, top: float) -> str:
    """The background of a heat-map cell and a text colour readable on it (the better of
    black and white, so at least 4.5:1)."""
    t = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
    rgb = _mix(HEAT_LOW, HEAT_HIGH, t)
    light = _luminance(rgb)
    white = 1.05 / (light + 0.05)
    black = (light + 0.05) / 0.05
    ink = "#fff" if white >= black else "#000"
    return f"background:rgb({rgb[0]},{rgb[1]},{rgb[2]});color:{ink}"


def cohort_heat_map(rows: list[CohortRow]) -> tuple[list[int], list[CohortRowView], float]:
    """Weekly signup cohorts × weeks since signup, each cell coloured on one scale whose top is
    the highest retention after week 0 (week 0 is nearly everyone, and would wash out the rest).
    """
    weeks = sorted({c.weeks_since_signup for r in rows for c in r.cells})
    later = [c.value for r in rows for c in r.cells if c.weeks_since_signup > 0 and c.value]
    top = max(later, default=1.0)
    views = []
    for row in rows:
        by_week = {c.weeks_since_signup: c for c in row.cells}
        cells: list[CohortCellView | None] = []
        for week in weeks:
            cell = by_week.get(week)
            if cell is None or cell.value is None:
                cells.append(None)
                continue
            cells.append(
                CohortCellView(
                    weeks=week,
                    text=f"{cell.value * 100:.0f}%",
                    detail=f"{cell.retained:,} of {cell.units:,} users active in week {week}",
                    style=heat_style(cell.value, top),
                )
            )
        views.append(CohortRowView(_day(row.cohort_start), f"{row.size:,}", cells))
    return weeks, views, top


@dataclass(frozen=True)
class FeatureView:
    name: str
    event: str
    adopters: str
    share: str
    percent: float


def feature_views(features: list[FeatureAdoption]) -> list[FeatureView]:
    views = []
    for feature in features:
        event, _, value = feature.feature.partition(":")
        views.append(
            FeatureView(
                name=value or event,
                event=event if value else "",
                adopters=f"{feature.adopters:,} of {feature.active_users:,}",
                share=format_value(feature.value, "share"),
                percent=round((finite(feature.value) or 0.0) * 100, 1),
            )
        )
    return views


# --- recompute jobs -------------------------------------------------------------------------
def _shown_job(request: HttpRequest, workspace: Workspace) -> BackgroundJob | None:
    """The job named by ``?job=`` (just started here), else one still running."""
    job_id = request.GET.get("job", "")
    if job_id.isdigit():
        try:
            return job_get(workspace=workspace, job_id=int(job_id))
        except NotFound:
            pass
    return kpi_recompute_running(workspace=workspace)


# --- the dashboard --------------------------------------------------------------------------
def _default_to(workspace: Workspace) -> date:
    """The last complete day: the day before the last computed one, or yesterday."""
    through = kpi_settings_read(workspace=workspace).computed_through
    return (through or local_today(workspace)) - timedelta(days=1)


FILTER_PARAMS = ("segment", "days", "to")


def _filters(request: HttpRequest, workspace: Workspace) -> tuple[KpiFilterForm, str, int, date]:
    """The dashboard's filters: the defaults, overridden by those in the query string (a bad
    one is shown beside its field and its default used)."""
    segment, days, to = "", DEFAULT_PERIOD_DAYS, _default_to(workspace)
    data = {"segment": segment, "days": str(days), "to": to.isoformat()}
    data.update({name: request.GET[name] for name in FILTER_PARAMS if request.GET.get(name)})
    form = KpiFilterForm(data, segments=kpi_segments(workspace=workspace))
    if form.is_valid():
        segment = form.cleaned_data["segment"] or ""
        days = form.cleaned_data["days"] or days
        to = form.cleaned_data["to"] or to
    else:
        clean = getattr(form, "cleaned_data", {})
        segment = clean.get("segment") or segment
        days = clean.get("days") or days
        to = clean.get("to") or to
    return form, segment, days, to


def _dashboard_context(
    request: HttpRequest, membership: Membership, recompute_form: RecomputeForm | None = None
) -> dict[str, Any]:
    workspace = membership.workspace
    filters, segment, days, to = _filters(request, workspace)
    date_from = to - timedelta(days=days - 1)
    dashboard = kpi_dashboard(workspace=workspace, on=to, segment=segment)
    cohorts = kpi_cohort_table(
        workspace=workspace,
        date_from=to - timedelta(days=max(days, 91) - 1),
        date_to=to,
        segment=segment,
    )
    weeks, heat_rows, heat_top = cohort_heat_map(cohorts)
    today = local_today(workspace)
    active = _lines_chart(
        workspace,
        (("dau", "blue"), ("wau", "green"), ("mau", "purple")),
        date_from,
        to,
        segment,
        unit="users",
        axis="Users",
    )
    stickiness = _lines_chart(
        workspace,
        (
            ("stickiness_dau_mau", "blue"),
            ("stickiness_dau_wau", "green"),
            ("stickiness_wau_mau", "orange"),
        ),
        date_from,
        to,
        segment,
        unit="share",
        axis="Share of users",
    )
    activation = _lines_chart(
        workspace,
        (("activation_rate", "blue"), ("ttv_never_reached", "orange")),
        date_from,
        to,
        segment,
        interval="week",
        unit="share",
        axis="Share of the cohort's matured users",
    )
    ttv = kpi_series(
        workspace=workspace,
        kpi="time_to_value",
        date_from=date_from,
        date_to=to,
        interval="week",
        segment=segment,
    )
    for (_label, values), point in zip(activation.rows, ttv.points, strict=True):
        values.append(format_value(point.value, "hours") if point.computed else "not computed")
    activation.columns.append(ttv.kpi.name)
    mrr = _lines_chart(
        workspace, (("mrr", "green"),), date_from, to, "", unit="currency", axis="MRR"
    )
    settings = kpi_settings_read(workspace=workspace)
    query = request.GET.copy()
    query.pop("job", None)
    job = _shown_job(request, workspace)
    return {
        "current": "kpis",
        "dashboard": dashboard,
        "filters": filters,
        "segment": segment,
        "days": days,
        "date_from": date_from,
        "to": to,
        "groups": creation_groups(dashboard),
        "capture": capture_cards(dashboard),
        "pes": pes_parts(dashboard),
        "active_chart": active,
        "stickiness_chart": stickiness,
        "activation_chart": activation,
        "mrr_chart": mrr,
        "mrr_configured": bool(settings.revenue_event),
        "cohort_weeks": weeks,
        "cohort_rows": heat_rows,
        "cohort_top": format_value(heat_top, "share"),
        "features": feature_views(dashboard.feature_adoption),
        "requests": dashboard.top_feature_requests[:REQUESTS_SHOWN],
        "pqls": list(pqls_list(workspace=workspace)[:PQLS_SHOWN]),
        "settings": settings,
        "has_values": bool(dashboard.computed_through)
        or any(c.value is not None for c in dashboard.value_creation),
        "job": job,
        "job_url": reverse("kpi-job", kwargs={"job_id": job.pk}) if job else "",
        "job_percent": round(job.progress * 100) if job else 0,
        "dashboard_url": reverse("outcomes_web:kpis") + (f"?{query.urlencode()}" if query else ""),
        "recompute_form": recompute_form
        or RecomputeForm(
            initial={"date_from": date_from, "date_to": min(to + timedelta(days=1), today)}
        ),
        "filtered": any(request.GET.get(name) for name in FILTER_PARAMS),
        "can_edit": membership.has_role(Role.EDITOR),
    }


@workspace_page()
def kpi_dashboard_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "outcomes/kpis.html", _dashboard_context(request, membership))


def _with_query(url: str, query: QueryDict, **extra: Any) -> str:
    params = query.copy()
    params.pop("job", None)
    for name, value in extra.items():
        params[name] = value
    return f"{url}?{params.urlencode()}" if params else url


@require_POST
@workspace_page(Role.EDITOR)
def kpi_recompute(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Start a recompute of a period; the dashboard then shows its progress."""
    workspace = membership.workspace
    form = RecomputeForm(request.POST)
    if form.is_valid():
        try:
            job = kpi_recompute_request(
                workspace=workspace,
                date_from=form.cleaned_data["date_from"],
                date_to=form.cleaned_data["date_to"],
                actor=request.user,
            )
        except DomainError as error:
            attach_errors(form, error, {"from": "date_from", "to": "date_to"})
        else:
            transaction.on_commit(lambda: recompute_kpis.delay(job.pk))
            messages.info(
                request,
                RECOMPUTE_QUEUED.format(
                    first=_day(form.cleaned_data["date_from"]),
                    last=_day(form.cleaned_data["date_to"]),
                ),
            )
            url = _with_query(reverse("outcomes_web:kpis"), request.GET, job=job.pk)
            return redirect(url + "#recompute")
    context = _dashboard_context(request, membership, recompute_form=form)
    return render(request, "outcomes/kpis.html", context, status=400)


# --- settings and PQLs ----------------------------------------------------------------------
@workspace_page()
def kpi_settings_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Everyone reads the settings (they define the numbers); editors change them."""
    workspace = membership.workspace
    can_edit = membership.has_role(Role.EDITOR)
    if request.method == "POST" and not can_edit:
        raise PermissionDenied(EDITORS_ONLY)
    settings = kpi_settings_read(workspace=workspace)
    initial = KpiSettingsForm.initial_from(settings)
    form = KpiSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            before = settings.updated_at
            saved = kpi_settings_update(
                workspace=workspace, changes=form.changes(), actor=request.user
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            changed = before is None or saved.updated_at != before
            messages.success(request, SETTINGS_SAVED if changed else SETTINGS_UNCHANGED)
            return redirect("outcomes_web:kpis")
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    groups = [
        (legend, about, [form[name] for name in names]) for legend, about, names in SETTINGS_GROUPS
    ]
    return render(
        request,
        "outcomes/kpi_settings.html",
        {"form": form, "groups": groups, "can_edit": can_edit, "current": "settings"},
        status=400 if form.is_bound and form.errors else 200,
    )


@workspace_page()
def pql_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace = membership.workspace
    plan = request.GET.get("plan", "").strip()[:200]
    leads = pqls_list(workspace=workspace, plan=plan or None)
    page = Paginator(leads, PQL_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "outcomes/pqls.html",
        {
            "current": "pqls",
            "page": page,
            "plan": plan,
            "plans": sorted(
                {p for p in pqls_list(workspace=workspace).values_list("plan", flat=True) if p}
            ),
            "settings": kpi_settings_read(workspace=workspace),
            "csv_url": reverse("kpi-pqls-csv") + (f"?{urlencode({'plan': plan})}" if plan else ""),
        },
    )
