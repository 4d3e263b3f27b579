"""Plain-language sentences for results, for people who do not read p-values for a living.

Frequentist sentences speak of intervals and chance findings; Bayesian sentences speak of the
probability of being better and the expected loss. Neither borrows the other's words: a chance
to win is never called a p-value or "significance", and a p-value is never called a probability
that the variant is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.stats.messages import INSUFFICIENT_DATA, OK, STATUS_MESSAGES
from experiments.stats.power import PowerRequest, PowerResponse
from experiments.stats.settings import Correction, Difference, Engine, MetricType

_CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


@dataclass(frozen=True)
class SummaryContext:
    """What a sentence needs to know besides the numbers."""

    metric_name: str = "the metric"
    engine: Engine = "frequentist"
    difference: Difference = "relative"
    metric_type: MetricType = "mean"
    alpha: float = 0.05
    sequential: bool = False
    correction: Correction = "none"
    higher_is_better: bool = True
    control_name: str = "control"


def format_effect(value: float, difference: Difference, metric_type: MetricType) -> str:
    """3.1% for relative lifts, 1.2 percentage points for rates, 3 significant digits else."""
    if difference == "relative":
        return f"{value * 100:.1f}%" if abs(value) >= 0.001 else f"{value * 100:.2f}%"
    if metric_type == "proportion":
        return f"{value * 100:.3g} percentage points"
    return f"{value:.3g}"


def _format_bound(value: float, difference: Difference, metric_type: MetricType) -> str:
    text = format_effect(value, difference, metric_type)
    return text.replace(" percentage points", " pp")


def format_p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def format_probability(probability: float) -> str:
    if probability > 0.999:
        return "more than 99.9%"
    if probability < 0.001:
        return "less than 0.1%"
    return f"{probability * 100:.0f}%" if 0.01 <= probability <= 0.99 else f"{probability:.1%}"


def _interval_text(
    label: str, low: float, high: float, level: float, context: SummaryContext
) -> str:
    level_text = f"{level * 100:.3g}%"
    fmt = _format_bound
    d, m = context.difference, context.metric_type
    if math.isinf(high):
        return f"{level_text} {label} lower bound {fmt(low, d, m)}"
    if math.isinf(low):
        return f"{level_text} {label} upper bound {fmt(high, d, m)}"
    return f"{level_text} {label} {fmt(low, d, m)} to {fmt(high, d, m)}"


def _change(variant: str, effect: float, context: SummaryContext) -> str:
    if effect == 0:
        return f"{variant} did not change {context.metric_name}"
    verb = "increased" if effect > 0 else "decreased"
    size = format_effect(abs(effect), context.difference, context.metric_type)
    return f"{variant} {verb} {context.metric_name} by {size}"


def _verdict(effect: float, context: SummaryContext) -> str:
    good = (effect > 0) == context.higher_is_better
    if context.higher_is_better:
        return " That is an improvement." if good else " That is a regression."
    return (
        " Lower is better for this metric, so that is an improvement."
        if good
        else " Lower is better for this metric, so that is a regression."
    )


def describe_comparison(
    context: SummaryContext,
    *,
    variant: str,
    status: str,
    effect: float | None,
    ci_low: float | None,
    ci_high: float | None,
    ci_level: float | None,
    p_value: float | None = None,
    chance_to_win: float | None = None,
    risk: float | None = None,
) -> str:
    """One or two sentences describing one comparison, e.g. "Treatment increased revenue by
    3.1% (95% CI 0.8% to 5.4%); this is unlikely to be chance (p = 0.008)."."""
    if status != OK or effect is None or ci_low is None or ci_high is None or ci_level is None:
        lead = "no result yet" if status == INSUFFICIENT_DATA else "no result"
        message = STATUS_MESSAGES.get(status, "")
        return f"{variant} vs {context.control_name} on {context.metric_name}: {lead}. {message}"
    change = _change(variant, effect, context)
    if context.engine == "bayesian":
        interval = _interval_text("credible interval", ci_low, ci_high, ci_level, context)
        text = f"{change} ({interval})."
        if chance_to_win is not None:
            text += (
                f" The probability that {variant} is better than {context.control_name} is "
                f"{format_probability(chance_to_win)}"
            )
            if risk is not None:
                loss = format_effect(risk, context.difference, context.metric_type)
                if context.difference == "relative" and risk < 0.00005:
                    loss = "less than 0.01%"
                text += f"; if it is shipped, the expected loss is {loss}"
            text += "."
            if chance_to_win >= 1 - context.alpha / 2 or chance_to_win <= context.alpha / 2:
                text += _verdict(effect, context)
        return text
    label = "always-valid CI" if context.sequential else "CI"
    interval = _interval_text(label, ci_low, ci_high, ci_level, context)
    text = f"{change} ({interval})"
    if p_value is None:
        return text + "."
    note = ""
    if context.correction in _CORRECTION_NAMES:
        note = f", adjusted for multiple comparisons ({_CORRECTION_NAMES[context.correction]})"
    p_text = format_p_value(p_value) + note
    if p_value < context.alpha:
        return f"{text}; this is unlikely to be chance ({p_text}).{_verdict(effect, context)}"
    return f"{text}; the interval includes no change, so this could be chance ({p_text})."


def describe_plan(request: PowerRequest, response: PowerResponse) -> str:
    """One sentence for a plan, e.g. "To detect a 10% relative change from a 10% baseline with
    80% power (5% significance, two-sided), you need 15,337 units per variant ..."."""
    if response.status != "ok" or response.sample_size_per_variant is None:
        return response.message
    baseline = (
        f"a {request.baseline_rate * 100:.3g}% baseline"
        if request.baseline_rate is not None
        else f"a baseline mean of {request.baseline_mean:.3g}"
    )
    change = (
        f"{(response.mde_relative or 0) * 100:.3g}% relative change"
        if request.mde_type == "relative"
        else f"change of {response.mde_absolute:.3g}"
    )
    sided = "two-sided" if request.alternative == "two_sided" else "one-sided"
    design = "sequential test" if request.sequential else "fixed-horizon test"
    units = response.sample_size_per_variant
    text = (
        f"A {design} with {units:,} units per variant ({response.total_sample_size:,} in total, "
        f"{request.n_variants} variants) detects a {change} from {baseline} with "
        f"{request.power * 100:.0f}% power ({request.alpha * 100:.3g}% significance, {sided}"
    )
    if request.n_variants > 2:
        text += f", {response.alpha_per_comparison * 100:.3g}% per comparison"
    text += ")."
    if response.duration_days is not None:
        text += f" At {request.daily_traffic:,.0f} units a day that takes {response.duration_days}"
        text += " day." if response.duration_days == 1 else " days."
    if response.sequential_inflation is not None:
        text += (
            f" Being free to look at any time costs {response.sequential_inflation:.2f} times "
            "the units of a fixed-horizon test."
        )
    return text
