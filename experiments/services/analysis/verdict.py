"""What results mean: each comparison's verdict (win, loss, flat, inconclusive), and the
one-paragraph verdict at the top of a results page, from the primary metric and health.

Sentences speak the engine's language: "unlikely to be chance" for p-values, "probability of
being better" for the Bayesian chance to win (the per-metric summaries carry the numbers).
"""

from __future__ import annotations

from experiments.contracts import OK, AnalysisOutputs, ComparisonResult, Health

UNTRUSTED = (
    "Do not act on these results: the split of units between variants does not match the "
    "weights (sample ratio mismatch), so assignment or exposure logging is broken."
)
NO_METRICS = "No metric could be analysed yet."
WIN = "{variant} is better than {control} on the primary metric, {metric} ({effect})."
LOSS = "{variant} is worse than {control} on the primary metric, {metric} ({effect})."
FLAT = (
    "{variant} and {control} perform the same on {metric}, within the smallest change worth "
    "detecting ({effect})."
)
UNDECIDED = "There is not enough evidence yet to tell {variant} from {control} on {metric}."
NO_RESULT = "{variant}: no result on {metric} yet. {message}"
HARM = "But {variant} harms the guardrail {metric}."
NO_HARM = "No guardrail shows harm."


def decisive(
    *, engine: str, alpha: float, p_value: float | None, chance_to_win: float | None
) -> bool:
    """Whether a comparison is clear enough to call: p < α, or a chance to win outside
    [α/2, 1 − α/2] (the same thresholds the plain-language summaries use)."""
    if engine == "bayesian":
        return chance_to_win is not None and (
            chance_to_win >= 1 - alpha / 2 or chance_to_win <= alpha / 2
        )
    return p_value is not None and p_value < alpha


def verdict_of(
    *,
    status: str,
    significant: bool,
    effect: float | None,
    ci_low: float | None,
    ci_high: float | None,
    higher_is_better: bool,
    planned_mde: float | None,
) -> str:
    """win / loss when decisive; flat when the whole interval lies within ± the planned MDE;
    else inconclusive."""
    if status != OK or effect is None:
        return "inconclusive"
    if significant:
        return "win" if (effect > 0) == higher_is_better else "loss"
    if planned_mde and ci_low is not None and ci_high is not None:
        if -planned_mde < ci_low and ci_high < planned_mde:
            return "flat"
    return "inconclusive"


def _effect(comparison: ComparisonResult) -> str:
    effect = comparison.effect or 0.0
    low, high = comparison.ci_low, comparison.ci_high
    text = f"{effect * 100:+.1f}%"
    if low is not None and high is not None:
        level = (comparison.ci_level or 0.95) * 100
        text += f", {level:.3g}% interval {low * 100:+.1f}% to {high * 100:+.1f}%"
    return text


def results_verdict(outputs: AnalysisOutputs, health: Health) -> str:
    """Say what the analysis means, in a few sentences, most important first."""
    if health.srm_flag:
        return UNTRUSTED
    primary = outputs.primary
    if primary is None:
        return NO_METRICS
    control = outputs.control or "control"
    sentences = []
    for c in primary.comparisons:
        names = {"variant": c.variant, "control": control, "metric": primary.name}
        if not c.ok or c.effect is None:
            sentences.append(NO_RESULT.format(message=c.message, **names).strip())
            continue
        template = {"win": WIN, "loss": LOSS, "flat": FLAT}.get(c.verdict, UNDECIDED)
        sentences.append(template.format(effect=_effect(c), **names))
    results = health.guardrails.results if health.guardrails is not None else ()
    harmed = [r for r in results if r.harmful]
    for result in harmed:
        sentences.append(HARM.format(variant=result.variant, metric=result.name))
    if results and not harmed:
        sentences.append(NO_HARM)
    return " ".join(sentences)
