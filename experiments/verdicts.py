"""What results mean: each comparison's verdict (win, loss, flat, inconclusive), the
one-paragraph verdict at the top of a results page, and the one-line decision (ship, roll back,
keep running, inconclusive), from the primary metric and health.

Plain functions of ``experiments.contracts`` values: the analysis writes the verdict into the
snapshot; the results selectors derive the decision (and a finished experiment's verdict) when
read, because they depend on the experiment's status, which changes after the snapshot.

Sentences speak the engine's language: "unlikely to be chance" for p-values, "probability of
being better" for the Bayesian chance to win (the per-metric summaries carry the numbers).
"""

from __future__ import annotations

from experiments.contracts import OK, AnalysisOutputs, ComparisonResult, Health, ResultsDecision
from experiments.stats.summaries import format_p_value, format_probability

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
UNDECIDED_FINISHED = (
    "The experiment ended without enough evidence to tell {variant} from {control} on {metric}."
)
NO_RESULT = "{variant}: no result on {metric} yet. {message}"
NO_RESULT_FINISHED = "{variant}: no result on {metric}. {message}"
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


def effect_text(comparison: ComparisonResult) -> str:
    """The lift and its interval, e.g. "+15.2%, 95% interval +8.1% to +22.3%"."""
    effect = comparison.effect or 0.0
    low, high = comparison.ci_low, comparison.ci_high
    text = f"{effect * 100:+.1f}%"
    if low is not None and high is not None:
        level = (comparison.ci_level or 0.95) * 100
        text += f", {level:.3g}% interval {low * 100:+.1f}% to {high * 100:+.1f}%"
    return text


def results_verdict(outputs: AnalysisOutputs, health: Health, *, finished: bool = False) -> str:
    """Say what the analysis means, in a few sentences, most important first (in the past
    tense, without "yet", once the experiment has ``finished``)."""
    if health.srm_flag:
        return UNTRUSTED
    primary = outputs.primary
    if primary is None:
        return NO_METRICS
    control = outputs.control or "control"
    sentences = []
    for c in primary.comparisons:
        names = {"variant": c.variant, "control": control, "metric": primary.display_name}
        if not c.ok or c.effect is None:
            template = NO_RESULT_FINISHED if finished else NO_RESULT
            sentences.append(template.format(message=c.message, **names).strip())
            continue
        undecided = UNDECIDED_FINISHED if finished else UNDECIDED
        template = {"win": WIN, "loss": LOSS, "flat": FLAT}.get(c.verdict, undecided)
        sentences.append(template.format(effect=effect_text(c), **names))
    results = health.guardrails.results if health.guardrails is not None else ()
    harmed = [r for r in results if r.harmful]
    for result in harmed:
        sentences.append(HARM.format(variant=result.variant, metric=result.name))
    if results and not harmed:
        sentences.append(NO_HARM)
    return " ".join(sentences)


# --- The decision line ------------------------------------------------------------------------

SHIP, ROLL_BACK, KEEP_RUNNING, INCONCLUSIVE = "ship", "roll_back", "keep_running", "inconclusive"
DECISION_LABELS = {
    SHIP: "Ship",
    ROLL_BACK: "Roll back",
    KEEP_RUNNING: "Keep running",
    INCONCLUSIVE: "Inconclusive",
}
DECIDE_SRM = (
    "Sample ratio mismatch (p = {p_value:.2g}): assignment or exposure logging is broken, so "
    "no result can be trusted. Fix the cause before deciding."
)
DECIDE_HARM = "{variant} harms the guardrail {metric} ({harm:+.1%}, one-sided {p})."
DECIDE_LOSS = "{variant} is worse than {control} on {metric}: {effect}, {evidence}."
DECIDE_WIN = "{variant} beats {control} on {metric}: {effect}, {evidence}; no guardrail harmed."
DECIDE_FLAT = (
    "{metric} does not change by the smallest amount worth detecting ({effect}); keep "
    "whichever is simpler."
)
DECIDE_NO_DATA = "No result on the primary metric yet: {units} of {exposed} units have matured."
DECIDE_NO_DATA_FINISHED = "The primary metric has no result."
DECIDE_UNDERPOWERED = (
    "No clear difference on {metric} yet ({effect}, {evidence}), and the data can only detect "
    "changes of {detectable:.1%} against the planned {planned:.1%}: keep collecting."
)
DECIDE_POWERED = (
    "No clear difference on {metric} ({effect}, {evidence}), although the data can already "
    "detect the planned {planned:.1%}: more data is unlikely to change that."
)
DECIDE_UNDECIDED = "No clear difference on {metric} yet ({effect}, {evidence})."
DECIDE_UNDECIDED_FINISHED = (
    "The experiment ended without a clear difference on {metric} ({effect}, {evidence})."
)


def evidence_text(c: ComparisonResult, engine: str, correction: str) -> str:
    """The p-value (with its correction) or the chance to win, as the engine reports it."""
    if engine == "bayesian":
        chance = c.chance_to_win
        return "chance to win " + (format_probability(chance) if chance is not None else "—")
    if c.p_value is None:
        return "no p-value"
    adjusted = (
        f" ({correction.upper() if correction == 'bh' else correction.capitalize()}-adjusted)"
    )
    return format_p_value(c.p_value) + (adjusted if correction not in ("", "none") else "")


def _decision(action: str, reason: str) -> ResultsDecision:
    return ResultsDecision(action=action, label=DECISION_LABELS[action], reason=reason)


def results_decision(
    outputs: AnalysisOutputs,
    health: Health,
    *,
    finished: bool = False,
    names: dict[str, str] | None = None,
) -> ResultsDecision:
    """One decision for the experiment, from the same checks the banners show: an SRM makes it
    inconclusive, a harmed guardrail or a worse primary metric a roll-back, a better primary
    metric a ship; otherwise keep running while the experiment runs, inconclusive after."""
    if health.srm_flag and health.srm is not None:
        return _decision(INCONCLUSIVE, DECIDE_SRM.format(p_value=health.srm.p_value or 0.0))
    harmed = [r for r in (health.guardrails.results if health.guardrails else ()) if r.harmful]
    if harmed:
        r = harmed[0]
        p = format_p_value(r.p_value) if r.p_value is not None else "p unknown"
        variant = (names or {}).get(r.variant, r.variant)
        reason = DECIDE_HARM.format(variant=variant, metric=r.name, harm=r.harm or 0.0, p=p)
        return _decision(ROLL_BACK, reason)
    primary = outputs.primary
    comparisons = [c for c in (primary.comparisons if primary else ()) if c.ok]
    if primary is None or not comparisons:
        if finished:
            return _decision(INCONCLUSIVE, DECIDE_NO_DATA_FINISHED)
        maturity = outputs.maturity
        exposed = maturity.units_exposed if maturity else 0
        matured = maturity.units_matured if maturity else 0
        return _decision(KEEP_RUNNING, DECIDE_NO_DATA.format(units=matured, exposed=exposed))
    label = (names or {}).get
    control_key = outputs.control or "control"
    control = label(control_key, control_key)

    def wording(c: ComparisonResult) -> dict[str, str]:
        return {
            "variant": label(c.variant, c.variant),
            "control": control,
            "metric": primary.display_name,
            "effect": effect_text(c),
            "evidence": evidence_text(c, outputs.engine, outputs.correction),
        }

    losses = [c for c in comparisons if c.verdict == "loss"]
    wins = sorted((c for c in comparisons if c.verdict == "win"), key=lambda c: -(c.effect or 0))
    if wins and not losses:
        return _decision(SHIP, DECIDE_WIN.format(**wording(wins[0])))
    if losses:
        return _decision(ROLL_BACK, DECIDE_LOSS.format(**wording(losses[0])))
    if all(c.verdict == "flat" for c in comparisons):
        return _decision(INCONCLUSIVE, DECIDE_FLAT.format(**wording(comparisons[0])))
    first = comparisons[0]
    if finished:
        return _decision(INCONCLUSIVE, DECIDE_UNDECIDED_FINISHED.format(**wording(first)))
    power = health.power
    if power is not None and power.too_little_data and power.detectable_effect is not None:
        reason = DECIDE_UNDERPOWERED.format(
            detectable=power.detectable_effect, planned=power.planned_mde or 0.0, **wording(first)
        )
        return _decision(KEEP_RUNNING, reason)
    if power is not None and power.planned_mde and power.detectable_effect is not None:
        reason = DECIDE_POWERED.format(planned=power.planned_mde, **wording(first))
        return _decision(INCONCLUSIVE, reason)
    return _decision(KEEP_RUNNING, DECIDE_UNDECIDED.format(**wording(first)))
