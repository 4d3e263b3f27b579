"""OKR pages about one key result: where it stands and its history, editing it, and the forms
on its page (a check-in, a baseline change, an initiative, "Measure now").
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from outcomes.okrs.board import (
    key_result_view,
    outlook_chart,
)
from outcomes.okrs.forecasting import INTERVAL_LEVEL, MIN_POINTS
from outcomes.okrs.forms import (
    BaselineForm,
    CheckInForm,
    InitiativeForm,
    KeyResultEditForm,
)
from outcomes.okrs.models import KeyResult, ValueSource
from outcomes.okrs.outlook import (
    change_words,
    key_result_backtest,
    key_result_outlook,
    size_words,
)
from outcomes.okrs.selectors import (
    key_result_detail,
    key_result_get,
)
from outcomes.okrs.services.check_ins import check_in_create
from outcomes.okrs.services.initiatives import initiative_create
from outcomes.okrs.services.key_results import (
    key_result_measure_request,
    key_result_set_baseline,
    key_result_update,
)
from outcomes.okrs.views.objectives import board_url
from outcomes.presentation import (
    chart_json,
    format_value,
    metric_unit,
    series_points,
    value_input,
    workspace_page,
)
from plg_platform.clock import local_today
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role, Workspace
from plg_platform.web.pages import attach_errors, found_or_404

MEASURING = (
    "Measuring “{title}” from events now: the new value appears here within a minute "
    "(reload the page)."
)


# --- key results ----------------------------------------------------------------------------
def _key_result_or_404(workspace: Workspace, key_result_id: int) -> KeyResult:
    return found_or_404(key_result_get, workspace=workspace, key_result_id=key_result_id)


def _key_result_page(
    request: HttpRequest,
    membership: Membership,
    key_result: KeyResult,
    *,
    check_in_form: CheckInForm | None = None,
    baseline_form: BaselineForm | None = None,
    initiative_form: InitiativeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    today = local_today(key_result.workspace)
    detail = key_result_detail(key_result=key_result, today=today)
    outlook = key_result_outlook(key_result=key_result, today=today)
    view = key_result_view(
        detail.summary,
        initiatives=detail.initiatives,
        experiments=detail.experiments,
        outlook=outlook,
    )
    metric = key_result.metric
    history_chart = None
    if len(view.trend_rows) >= 2:
        computed = {c.date: c.value for c in detail.check_ins if c.source == ValueSource.COMPUTED}
        manual = {
            c.date: c.value
            for c in detail.check_ins
            if c.source == ValueSource.MANUAL and c.value is not None
        }
        days = sorted(set(computed) | set(manual))
        history_chart = chart_json(
            {
                "labels": [d.isoformat() for d in days],
                "computed": series_points(computed.get(d) for d in days),
                "manual": series_points(manual.get(d) for d in days),
                "baseline": key_result.baseline,
                "target": key_result.target,
                "unit": view.unit,
            }
        )
    can_edit = membership.has_role(Role.EDITOR)
    backtest = key_result_backtest(key_result=key_result, today=today)
    unit = view.unit
    return render(
        request,
        "outcomes/key_result.html",
        {
            "current": "board",
            "kr": view,
            "key_result": key_result,
            "objective": key_result.objective,
            "metric": metric,
            "check_ins": [
                (c, format_value(c.value, view.unit)) for c in reversed(detail.check_ins)
            ],
            "baseline_history": [
                (b, format_value(b.previous, view.unit), format_value(b.baseline, view.unit))
                for b in detail.baseline_history
            ],
            "history_chart": history_chart,
            "outlook": outlook,
            "forecast_chart": outlook_chart(outlook),
            "forecast_rows": [
                (d, format_value(m, unit), format_value(lo, unit), format_value(hi, unit))
                for d, m, lo, hi in outlook.forecast.path
            ],
            "weekly_rows": [
                (d, format_value(v, unit))
                for d, v in zip(outlook.series.dates, outlook.series.values, strict=True)
                if v is not None
            ],
            "forecast_numbers": {
                "mean": format_value(outlook.forecast.mean, unit),
                "low": format_value(outlook.forecast.low, unit),
                "high": format_value(outlook.forecast.high, unit),
                "expected": format_value(outlook.expected, unit),
                "added": change_words(outlook.added_mean, unit),
            },
            "contributions": [
                {
                    "c": p.contribution,
                    "lift": f"{p.contribution.lift:+.1%}",
                    "lift_se": f"{p.contribution.lift_se:.1%}",
                    "shrunk": f"{p.contribution.shrunk_lift:+.1%}",
                    "shrunk_sd": f"{p.contribution.shrunk_lift_sd:.1%}",
                    "reach": f"{p.contribution.reach:.0%}",
                    "cohort_share": f"{p.cohort_share:.0%}",
                    "untreated": f"{1 - p.contribution.treated_share:.0%}",
                    "adds": change_words(p.mean, unit) if p.counted else "not counted",
                    "adds_sd": size_words(p.sd, unit),
                }
                for p in outlook.contributions
            ],
            "backtest": backtest,
            "backtest_mae": size_words(backtest.mae, unit),
            "backtest_naive_mae": size_words(backtest.naive_mae, unit),
            "backtest_coverage": f"{backtest.coverage:.0%}"
            if backtest.coverage is not None
            else "—",
            "interval_level": f"{INTERVAL_LEVEL:.0%}",
            "forecast_min_weeks": MIN_POINTS,
            "can_edit": can_edit,
            "check_in_form": check_in_form or CheckInForm(metric=metric),
            "baseline_form": baseline_form
            or BaselineForm(
                metric=metric, initial={"baseline": value_input(key_result.baseline, metric)}
            ),
            "initiative_form": initiative_form or InitiativeForm(),
            "board_url": board_url(key_result.objective),
        },
        status=status,
    )


@workspace_page()
def key_result_page(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    return _key_result_page(request, membership, key_result)


@workspace_page(Role.EDITOR)
def key_result_edit(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    metric = key_result.metric
    form = KeyResultEditForm(
        request.POST or None,
        metric=metric,
        initial={
            "title": key_result.title,
            "direction": key_result.direction,
            "target": value_input(key_result.target, metric),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            key_result_update(key_result=key_result, changes=form.cleaned_data, actor=request.user)
        except DomainError as error:
            attach_errors(form, error)
            key_result.refresh_from_db()
        else:
            messages.success(request, f"Key result “{key_result.title}” saved.")
            return redirect("outcomes_web:key-result", key_result_id=key_result.pk)
    return render(
        request,
        "outcomes/key_result_edit.html",
        {
            "form": form,
            "key_result": key_result,
            "objective": key_result.objective,
            "metric": metric,
            "baseline": format_value(key_result.baseline, metric_unit(metric)),
            "current": "board",
        },
    )


@require_POST
@workspace_page(Role.EDITOR)
def check_in_new(request: HttpRequest, membership: Membership, key_result_id: int) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = CheckInForm(request.POST, metric=key_result.metric)
    if form.is_valid():
        try:
            check_in_create(key_result=key_result, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, "Check-in recorded.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#check-ins-title"
            )
    return _key_result_page(request, membership, key_result, check_in_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def baseline_change(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = BaselineForm(request.POST, metric=key_result.metric)
    if form.is_valid():
        try:
            key_result_set_baseline(
                key_result=key_result,
                baseline=form.cleaned_data["baseline"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except DomainError as error:
            # A baseline on the wrong side of the target is the baseline's problem here.
            attach_errors(form, error, {"target": "baseline"})
            key_result.refresh_from_db()
        else:
            messages.success(request, "Baseline changed; the history keeps the previous one.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#baseline-title"
            )
    return _key_result_page(request, membership, key_result, baseline_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def initiative_new(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = InitiativeForm(request.POST)
    if form.is_valid():
        try:
            initiative_create(
                workspace=membership.workspace,
                key_result_ids=[key_result.pk],
                actor=request.user,
                **form.cleaned_data,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Initiative “{form.cleaned_data['title']}” linked.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#initiatives-title"
            )
    return _key_result_page(request, membership, key_result, initiative_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def key_result_measure(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    """Queue today's computed check-in (the scheduled task's work, on demand)."""
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    key_result_measure_request(key_result=key_result)
    messages.info(request, MEASURING.format(title=key_result.title))
    return redirect("outcomes_web:key-result", key_result_id=key_result.pk)
