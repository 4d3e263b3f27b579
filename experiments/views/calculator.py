"""The statistics calculator's pages: analyse per-variant counts, and plan a test.

Both call the engine (``experiments.stats``) exactly as ``POST /api/v1/stats/analyze`` and
``/power`` do, and use its sentences and number formats; nothing here computes statistics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from experiments.forms.base import MAX_VARIANTS
from experiments.forms.calculator import CalculatorOptionsForm, CalculatorVariantFormSet, PowerForm
from experiments.stats import (
    AnalysisRequest,
    AnalysisResponse,
    PowerRequest,
    PowerResponse,
    StatsInputError,
    analyze,
    describe_plan,
    plan,
)
from experiments.stats.summaries import format_effect, format_p_value, format_probability
from experiments.traffic import DAILY_ACTIVES, SIGNUPS, daily_traffic_read
from experiments.views.base import (
    rows_plus_one,
    unbound_initial,
    workspace_page,
)
from plg_platform.models import Membership
from plg_platform.web.pages import attach_errors


@dataclass(frozen=True)
class ResultRow:
    """One line of the calculator's table, already formatted."""

    key: str
    units: str
    value: str
    is_control: bool = False
    effect: str = ""
    interval: str = ""
    evidence: str = ""
    risk: str = ""
    summary: str = ""
    tone: str = "neutral"


def _fmt_value(value: float | None, metric_type: str) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f}%" if metric_type == "proportion" else f"{value:,.4g}"


def _fmt_effect(value: float | None, difference: str, metric_type: str, *, bound: str = "") -> str:
    if value is None:
        return {"low": "−∞", "high": "+∞"}.get(bound, "—")
    text = format_effect(value, difference, metric_type)  # type: ignore[arg-type]
    text = text.replace(" percentage points", " pp")
    return text if value < 0 or bound else f"+{text}" if value > 0 else text


def _tone(comparison: Any, options: dict[str, Any]) -> str:
    """good / bad when the evidence is decisive (as the engine's sentences judge it), else
    neutral."""
    if comparison.status != "ok" or comparison.effect is None:
        return "neutral"
    alpha = options["alpha"]
    if options["engine"] == "bayesian":
        chance = comparison.chance_to_win
        decisive = chance is not None and (chance >= 1 - alpha / 2 or chance <= alpha / 2)
    else:
        decisive = comparison.p_value is not None and comparison.p_value < alpha
    if not decisive or comparison.effect == 0:
        return "neutral"
    return "good" if (comparison.effect > 0) == options["higher_is_better"] else "bad"


def _result_rows(
    request: AnalysisRequest, response: AnalysisResponse, options: dict[str, Any]
) -> list[ResultRow]:
    metric_type, difference = options["metric_type"], options["difference"]
    control = request.variants[0]
    rows = [
        ResultRow(
            key=control.key,
            units=f"{control.n:,.0f}",
            value=_fmt_value(control.sum / control.n if control.n else None, metric_type),
            is_control=True,
        )
    ]
    for variant, c in zip(request.variants[1:], response.comparisons, strict=True):
        if c.status == "ok":
            interval = (
                f"{_fmt_effect(c.ci_low, difference, metric_type, bound='low')} to "
                f"{_fmt_effect(c.ci_high, difference, metric_type, bound='high')}"
            )
        else:
            interval = "—"
        if options["engine"] == "bayesian":
            evidence = format_probability(c.chance_to_win) if c.chance_to_win is not None else "—"
            risk = _fmt_effect(c.risk, difference, metric_type, bound="risk")
        else:
            evidence = format_p_value(c.p_value) if c.p_value is not None else "—"
            risk = ""
        rows.append(
            ResultRow(
                key=variant.key,
                units=f"{variant.n:,.0f}",
                value=_fmt_value(
                    c.variant_mean
                    if c.variant_mean is not None
                    else (variant.sum / variant.n if variant.n else None),
                    metric_type,
                ),
                effect=_fmt_effect(c.effect, difference, metric_type) if c.status == "ok" else "—",
                interval=interval,
                evidence=evidence,
                risk=risk,
                summary=c.summary,
                tone=_tone(c, options),
            )
        )
    return rows


def forest_chart(
    labels: list[str], comparisons: list[Any], rows: list[ResultRow], *, unit: str, axis: str
) -> str:
    """The JSON a ``<canvas data-chart="forest">`` reads (see static/plg/js/charts.js)."""

    def finite(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    return json.dumps(
        {
            "labels": labels,
            "effects": [finite(c.effect) for c in comparisons],
            "lows": [finite(c.ci_low) for c in comparisons],
            "highs": [finite(c.ci_high) for c in comparisons],
            "tones": [row.tone for row in rows],
            "unit": unit,
            "axis": axis,
        }
    )


def _analysis(options: CalculatorOptionsForm, variants: forms.BaseFormSet) -> dict[str, Any] | None:
    """Run the engine on the forms' counts; None (with errors on the forms) if it refuses."""
    data = options.cleaned_data
    try:
        request = AnalysisRequest(
            variants=tuple(form.statistics() for form in variants.filled_forms()),
            metric_type=data["metric_type"],
            engine=data["engine"],
            difference=data["difference"],
            alpha=data["alpha"],
            sequential=data["sequential"],
            correction=data["correction"],
            higher_is_better=data["higher_is_better"],
            metric_name=data["metric_name"] or "the metric",
        )
        response = analyze(request)
    except StatsInputError as error:
        attach_errors(options, error)
        return None
    rows = _result_rows(request, response, data)
    shown = [(row, c) for row, c in zip(rows[1:], response.comparisons, strict=True)]
    charted = [(row, c) for row, c in shown if c.status == "ok"]
    relative = data["difference"] == "relative"
    unit = "percent" if relative else "points" if data["metric_type"] == "proportion" else "number"
    level = 100 * (1 - data["alpha"])
    interval_name = "credible interval" if data["engine"] == "bayesian" else "confidence interval"
    return {
        "request": request,
        "response": response,
        "rows": rows,
        "tones": {row.key: row.tone for row in rows},
        "interval_name": interval_name,
        "level": f"{level:g}",
        "chart": (
            forest_chart(
                [row.key for row, _ in charted],
                [c for _, c in charted],
                [row for row, _ in charted],
                unit=unit,
                axis=f"Change in {data['metric_name'] or 'the metric'} against "
                f"{request.variants[0].key} ({level:g}% {interval_name})",
            )
            if charted
            else None
        ),
        "chart_height": 90 + 60 * len(charted),
        "options": data,
    }


CALCULATOR_EXAMPLE = [
    {"key": "control", "units": 10000, "conversions": 1000, "mean": "", "std_dev": ""},
    {"key": "treatment", "units": 10000, "conversions": 1100, "mean": "", "std_dev": ""},
]
BLANK_CALCULATOR_ROW = {"key": "", "units": "", "conversions": "", "mean": "", "std_dev": ""}


@workspace_page()
def calculator(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Analyse per-variant counts: SRM check, a table, a forest plot and a verdict."""
    result = None
    if request.method == "POST":
        metric_type = request.POST.get("metric_type")
        metric_type = metric_type if metric_type in ("proportion", "mean") else "proportion"
        options = CalculatorOptionsForm(request.POST)
        variants = CalculatorVariantFormSet(
            request.POST, prefix="variants", form_kwargs={"metric_type": metric_type}
        )
        if "add_variant" in request.POST:
            options = CalculatorOptionsForm(initial=unbound_initial(options, request.POST))
            variants = CalculatorVariantFormSet(
                prefix="variants",
                initial=rows_plus_one(
                    CalculatorVariantFormSet, request.POST, "variants", BLANK_CALCULATOR_ROW
                ),
                form_kwargs={"metric_type": metric_type},
            )
        elif options.is_valid() and variants.is_valid():
            result = _analysis(options, variants)
    else:
        options = CalculatorOptionsForm()
        variants = CalculatorVariantFormSet(prefix="variants", initial=CALCULATOR_EXAMPLE)
    return render(
        request,
        "experiments/calculator.html",
        {"options": options, "variants": variants, "result": result, "max_variants": MAX_VARIANTS},
    )


# Longer than this, a test outlives the product it measures (seasons, releases, cookies):
# the plan page says so and what would shorten it.
LONG_RUN_DAYS = 56
LONG_RUN = "{days:,} days is more than {weeks} weeks: too long to wait for one answer."
SHORTER_BY_MDE = "a larger smallest change worth detecting ({mde:.3g}% instead of {was:.3g}%)"
SHORTER_BY_TRAFFIC = (
    "twice the traffic ({traffic:,.0f} units a day: more coverage or a wider audience)"
)
SHORTER_BY_VARIANTS = "two variants instead of {n}"
SHORTER_GENERIC = "Plan for a larger change, more traffic or fewer variants."


def _days_with(request_: PowerRequest, **changes: Any) -> int | None:
    try:
        return plan(replace(request_, **changes)).duration_days
    except StatsInputError:
        return None


def long_run_advice(request_: PowerRequest, response: PowerResponse) -> dict[str, Any] | None:
    """When the plan runs longer than ``LONG_RUN_DAYS``: the warning and, for each lever
    (larger MDE, more traffic, fewer variants), the duration the engine gives with it."""
    days = response.duration_days
    if days is None or days <= LONG_RUN_DAYS:
        return None
    options: list[tuple[str, int]] = []
    if request_.mde is not None and request_.mde_type == "relative":
        doubled = _days_with(request_, mde=request_.mde * 2)
        if doubled is not None:
            mde = SHORTER_BY_MDE.format(mde=request_.mde * 200, was=request_.mde * 100)
            options.append((mde, doubled))
    if request_.daily_traffic:
        more = _days_with(request_, daily_traffic=request_.daily_traffic * 2)
        if more is not None:
            options.append((SHORTER_BY_TRAFFIC.format(traffic=request_.daily_traffic * 2), more))
    if request_.n_variants > 2:
        fewer = _days_with(request_, n_variants=2)
        if fewer is not None:
            options.append((SHORTER_BY_VARIANTS.format(n=request_.n_variants), fewer))
    return {
        "warning": LONG_RUN.format(days=days, weeks=LONG_RUN_DAYS // 7),
        "options": options,
        "generic": SHORTER_GENERIC,
    }


def plan_view(request_: PowerRequest, response: PowerResponse) -> dict[str, Any]:
    return {
        "response": response,
        "long_run": long_run_advice(request_, response),
        "sentence": describe_plan(request_, response),
        "mde_relative": (
            f"{response.mde_relative * 100:.3g}%" if response.mde_relative is not None else None
        ),
        "mde_absolute": (
            (
                f"{response.mde_absolute * 100:.3g} pp"
                if request_.baseline_rate is not None
                else f"{response.mde_absolute:.4g}"
            )
            if response.mde_absolute is not None
            else None
        ),
    }


@workspace_page()
def power(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Sample size per variant for an MDE, or the MDE for a size; and the duration."""
    traffic = daily_traffic_read(workspace=membership.workspace, source=DAILY_ACTIVES)
    signups = daily_traffic_read(workspace=membership.workspace, source=SIGNUPS)
    result = None
    if request.method == "POST":
        form = PowerForm(request.POST)
        if form.is_valid():
            try:
                power_request = form.power_request()
                result = plan_view(power_request, plan(power_request))
            except StatsInputError as error:
                attach_errors(form, error)
    else:
        form = PowerForm(initial={"baseline_rate": 10, "mde": 5, "daily_traffic": traffic.rounded})
    return render(
        request,
        "experiments/power.html",
        {
            "form": form,
            "result": result,
            "traffic": traffic,
            "signups": signups,
        },
    )
