"""Pages of the KPI library: the dashboard (filters, cards, charts, cohort heat map), a recompute
on demand, the settings page and the PQL list. Everything shown is read from the cache, never
from events. A recompute is a Celery job; the page polls ``/api/v1/kpis/jobs/<id>``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from outcomes.kpis.cards import (
    capture_cards,
    cohort_heat_map,
    creation_groups,
    day_text,
    feature_views,
    lines_chart,
    moment_table,
    pes_parts,
)
from outcomes.kpis.dashboard import kpi_dashboard, last_complete_day
from outcomes.kpis.forms import (
    DEFAULT_PERIOD_DAYS,
    SETTINGS_GROUPS,
    KpiFilterForm,
    KpiSettingsForm,
    RecomputeForm,
)
from outcomes.kpis.recompute import kpi_recompute_request, kpi_recompute_running
from outcomes.kpis.selectors import (
    job_get,
    kpi_cohort_table,
    kpi_segments,
    kpi_series,
    kpi_settings_read,
    kpi_success_moments,
    pqls_list,
)
from outcomes.kpis.settings import kpi_settings_update
from outcomes.presentation import EDITORS_ONLY, format_value, workspace_page
from plg_platform.clock import local_today
from plg_platform.errors import DomainError, NotFound
from plg_platform.models import BackgroundJob, Membership, Role, Workspace
from plg_platform.web.pages import attach_errors

PQLS_SHOWN = 10
PQL_PAGE_SIZE = 50
REQUESTS_SHOWN = 5
RECOMPUTE_QUEUED = "Recompute of {first} to {last} queued."
SETTINGS_SAVED = (
    "KPI settings saved. Values already cached were counted under the old settings: recompute "
    "the period to see the new ones (the next hourly refresh recomputes everything)."
)
SETTINGS_UNCHANGED = "Nothing changed."


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
    return last_complete_day(workspace, kpi_settings_read(workspace=workspace).computed_through)


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
    settings = kpi_settings_read(workspace=workspace)
    moment_columns, moment_rows = moment_table(
        list(settings.success_moments),
        kpi_success_moments(workspace=workspace, on=to, segment=segment),
    )
    today = local_today(workspace)
    active = lines_chart(
        workspace,
        (("dau", "blue"), ("wau", "green"), ("mau", "purple")),
        date_from,
        to,
        segment,
        unit="users",
        axis="Users",
    )
    stickiness = lines_chart(
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
    activation = lines_chart(
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
    mrr = lines_chart(
        workspace, (("mrr", "green"),), date_from, to, "", unit="currency", axis="MRR"
    )
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
        "moment_columns": moment_columns,
        "moment_rows": moment_rows,
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
            messages.info(
                request,
                RECOMPUTE_QUEUED.format(
                    first=day_text(form.cleaned_data["date_from"]),
                    last=day_text(form.cleaned_data["date_to"]),
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
