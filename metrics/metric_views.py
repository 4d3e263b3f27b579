"""Pages of metric definitions: the list, one metric with its value per signup cohort (a
funnel's with each step), the form to define a funnel and the form for the other types
(editors). Rules live in ``metrics.services.metric_create``; its errors are shown beside their
fields.

Everyone in the workspace reads them; another workspace's metric is not found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from metrics.metric_forms import VISIBLE_STEPS, FunnelForm, MetricForm, conditions_text
from metrics.models import Metric, MetricType
from metrics.selectors import metric_get, metrics_list
from metrics.series import Interval, SeriesPoint, metric_series
from metrics.services import metric_create
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.web.forms import PageForm
from plg_platform.web.pages import attach_errors, found_or_404, workspace_page

EDITORS_ONLY = "Only editors of this workspace define metrics."
SAVED = "Saved the funnel “{name}”. Its steps by signup cohort are below."
SAVED_METRIC = "Saved the metric “{name}” ({key}). Use it in an experiment or a key result."
COHORTS = {"week": 8, "day": 14}  # how many periods the page shows


def type_label(metric: Metric) -> str:
    """The type's short name ("Funnel"), without the explanation its choice carries."""
    return str(metric.get_type_display()).split(" (")[0]


@dataclass(frozen=True)
class StepLine:
    number: int
    label: str
    event: str
    conditions: str


def steps_of(metric: Metric) -> list[StepLine]:
    return [
        StepLine(
            number=i + 1,
            label=step.get("name") or step["event"],
            event=step["event"],
            conditions=conditions_text(step.get("filters") or []),
        )
        for i, step in enumerate(metric.steps or [])
    ]


def summary_of(metric: Metric) -> str:
    """The definition in one line: what a unit's value counts."""
    if metric.type == MetricType.FUNNEL:
        path = " → ".join(s.label for s in steps_of(metric))
        return f"{path}, in order, within {metric.window_days} days"
    what = metric.event or "any event"
    window_text = f", {metric.window_days} days" if metric.window_days else ""
    if metric.type == MetricType.QUANTILE and metric.quantile is not None:
        of = (
            f"each event's {metric.property}"
            if metric.quantile_of == "event"
            else (f"Σ {metric.property} per unit" if metric.property else "hours to the event")
        )
        return f"p{metric.quantile * 100:g} of {of}: {what}{window_text}"
    if metric.filters:
        what += f" where {conditions_text(metric.filters)}"
    if metric.type == MetricType.RETENTION:
        end = metric.retention_end_day
        days = (
            f"day {metric.retention_start_day}"
            if end in (None, metric.retention_start_day)
            else f"days {metric.retention_start_day}–{end}"
        )
        return f"{what} on {days}"
    window = f" within {metric.window_days} days" if metric.window_days else ""
    if metric.property:
        what = f"{metric.property} of {what}"
    return f"{what}{window}"


@workspace_page()
def metric_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's metrics with what each counts."""
    metrics = list(metrics_list(workspace=membership.workspace))
    return render(
        request,
        "metrics/metrics.html",
        {
            "rows": [(m, type_label(m), summary_of(m)) for m in metrics],
            "can_edit": membership.has_role(Role.EDITOR),
        },
    )


@workspace_page(Role.EDITOR, EDITORS_ONLY)
def funnel_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Define a funnel: ordered steps, each an event with optional conditions."""
    form = FunnelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            metric = metric_create(
                workspace=membership.workspace,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                direction=form.cleaned_data["direction"],
                spec=form.spec(),
                actor=request.user,
            )
        except DomainError as error:
            fields = {name: form.field_of(name) for name in error.as_errors()}
            attach_errors(form, error, fields=fields)
        else:
            messages.success(request, SAVED.format(name=metric.name))
            return redirect("metrics_web:metric", key=metric.key)
    rows = form.step_rows()
    return render(
        request,
        "metrics/funnel_form.html",
        {
            "form": form,
            "rows": rows[:VISIBLE_STEPS],
            "more_rows": rows[VISIBLE_STEPS:],
            "more_open": form.is_bound and form.rows_used(rows[VISIBLE_STEPS:]),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@workspace_page(Role.EDITOR, EDITORS_ONLY)
def metric_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Define a metric of any type but funnel (quantile fields shown only for quantiles)."""
    form = MetricForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            metric = metric_create(
                workspace=membership.workspace,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                kind=form.cleaned_data["kind"],
                direction=form.cleaned_data["direction"],
                unit=form.cleaned_data["unit"],
                spec=form.spec(),
                actor=request.user,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, SAVED_METRIC.format(name=metric.name, key=metric.key))
            return redirect("metrics_web:metric", key=metric.key)
    return render(request, "metrics/metric_form.html", {"form": form, "sections": form.sections()})


class CohortForm(PageForm):
    start_event = forms.CharField(
        required=False,
        max_length=200,
        label="Cohorts start at",
        help_text="Each user's first event of this name (empty: their first event of any kind).",
    )
    interval = forms.ChoiceField(
        choices=[("week", "Weekly cohorts"), ("day", "Daily cohorts")], required=False
    )


@dataclass(frozen=True)
class StepCell:
    units: int
    overall: str
    conversion: str


@dataclass(frozen=True)
class CohortLine:
    """One cohort of the metric page, formatted."""

    period_start: date
    units: int
    immature_units: int
    value: str
    interval: str
    steps: tuple[StepCell, ...]
    overall: tuple[float | None, ...]  # each step's share of the cohort (the chart's bars)


def _number(value: float | None, *, rate: bool) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if rate else f"{value:,.4g}"


def cohort_line(point: SeriesPoint, *, rate: bool) -> CohortLine:
    interval = ""
    if point.ci_low is not None and point.ci_high is not None:
        interval = f"{_number(point.ci_low, rate=rate)} to {_number(point.ci_high, rate=rate)}"
    return CohortLine(
        period_start=point.period_start,
        units=point.units,
        immature_units=point.immature_units,
        value=_number(point.value, rate=rate),
        interval=interval,
        steps=tuple(
            StepCell(
                units=s.units,
                overall=_number(s.overall, rate=True),
                conversion=_number(s.conversion, rate=True),
            )
            for s in point.steps
        ),
        overall=tuple(s.overall for s in point.steps),
    )


CHART_COHORTS = 4
PALETTE = ("#2557d6", "#5b7fe0", "#93a9ec", "#c3d0f5")


def funnel_chart(lines: list[CohortLine], steps: list[StepLine]) -> str:
    """Bars of the share reaching each step, for the latest cohorts whose users have all
    matured (``data-chart="bars"``), or "" when none has."""
    matured = [line for line in lines if line.units and not line.immature_units]
    if not matured:
        return ""
    shown = matured[:CHART_COHORTS]
    return json.dumps(
        {
            "labels": [f"{s.number}. {s.label}" for s in steps],
            "series": [
                {
                    "label": f"Cohort of {line.period_start:%Y-%m-%d}",
                    "values": list(line.overall),
                    "colour": PALETTE[i % len(PALETTE)],
                }
                for i, line in enumerate(shown)
            ],
            "unit": "percent",
            "axis": "Share of the cohort that reached the step",
            "max": 1,
        }
    )


@workspace_page()
def metric_page(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """One metric: its definition and its value per signup cohort (a funnel's per step)."""
    metric = found_or_404(metric_get, workspace=membership.workspace, key=key)
    form = CohortForm(request.GET or {"start_event": "signup", "interval": "week"})
    context: dict[str, Any] = {
        "metric": metric,
        "summary": summary_of(metric),
        "type_label": type_label(metric),
        "steps": steps_of(metric),
        "is_funnel": metric.type == MetricType.FUNNEL,
        "is_rate": metric.type
        in (MetricType.CONVERSION, MetricType.RETENTION, MetricType.MOMENT, MetricType.FUNNEL),
        "form": form,
        "cohorts": [],
    }
    if form.is_valid():
        interval: Interval = "day" if form.cleaned_data["interval"] == "day" else "week"
        today = datetime.now(tz=ZoneInfo(membership.workspace.timezone)).date()
        step = timedelta(days=7 if interval == "week" else 1)
        try:
            points = metric_series(
                metric=metric,
                date_from=today - step * (COHORTS[interval] - 1),
                date_to=today,
                interval=interval,
                start_event=form.cleaned_data["start_event"],
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            rate = context["is_rate"]
            lines = [cohort_line(p, rate=rate) for p in reversed(points)]  # latest first
            context["cohorts"] = lines
            context["interval"] = interval
            context["chart"] = funnel_chart(lines, context["steps"]) if context["is_funnel"] else ""
            context["chart_height"] = 70 + 60 * len(context["steps"])
    return render(request, "metrics/metric.html", context)
