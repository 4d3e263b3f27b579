"""The one-paragraph verdict at the top of a results page, from the primary metric and health.

Sentences speak the engine's language: "unlikely to be chance" for p-values, "probability of
being better" for the Bayesian chance to win (the per-metric summaries carry the numbers).
"""

from __future__ import annotations

from typing import Any

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


def _effect(comparison: dict[str, Any]) -> str:
    effect = comparison["effect"]
    low, high = comparison["ci_low"], comparison["ci_high"]
    text = f"{effect * 100:+.1f}%"
    if low is not None and high is not None:
        level = (comparison.get("ci_level") or 0.95) * 100
        text += f", {level:.3g}% interval {low * 100:+.1f}% to {high * 100:+.1f}%"
    return text


def results_verdict(outputs: dict[str, Any], health: dict[str, Any]) -> str:
    """Say what the analysis means, in a few sentences, most important first."""
    if (health.get("srm") or {}).get("flag"):
        return UNTRUSTED
    primary = next((m for m in outputs.get("metrics", []) if m["role"] == "primary"), None)
    if primary is None:
        return NO_METRICS
    control = outputs.get("control") or "control"
    sentences = []
    for c in primary["comparisons"]:
        names = {"variant": c["variant"], "control": control, "metric": primary["name"]}
        if c["status"] != "ok" or c["effect"] is None:
            sentences.append(NO_RESULT.format(message=c["message"], **names).strip())
            continue
        template = {"win": WIN, "loss": LOSS, "flat": FLAT}.get(c["verdict"], UNDECIDED)
        sentences.append(template.format(effect=_effect(c), **names))
    guardrails = health.get("guardrails", {})
    harmed = [r for r in guardrails.get("results", []) if r["harmful"]]
    for result in harmed:
        sentences.append(HARM.format(variant=result["variant"], metric=result["name"]))
    if guardrails.get("results") and not harmed:
        sentences.append(NO_HARM)
    return " ".join(sentences)
