"""The results page's notes beside the metric blocks: every health check as one line, whatever
the banners show, and the note explaining interval levels that differ by row."""

from __future__ import annotations

from dataclasses import dataclass

from experiments.result_selectors import ExperimentResults
from experiments.views.result_blocks import CORRECTION_NAMES, _level, correction_name

LEVELS_NOTE = (
    "Interval levels differ by row because p-values are adjusted for multiple comparisons "
    "({correction}) across the {count} comparisons of the overall results: each interval is drawn "
    "at the level 1 − α·p/p̃ (p raw, p̃ adjusted, α = {alpha:g}) that agrees with its adjusted "
    'p-value, so it excludes "no change" exactly when the adjusted p-value is below α. '
    "Levels here: {levels}."
)


@dataclass(frozen=True)
class HealthCheckLine:
    """One health check as the page lists it, whatever the banners show."""

    check: str
    name: str
    status: str  # passed | failed | warning | info
    text: str


def interval_levels_note(results: ExperimentResults) -> str:
    """Explain intervals whose levels differ by row (a Holm or BH correction made them)."""
    correction = str(results.settings.get("correction", "none"))
    levels = [
        c.ci_level
        for m in results.metrics
        for c in m.comparisons
        if c.ci_level is not None and c.ok
    ]
    if correction not in CORRECTION_NAMES or len({round(v, 6) for v in levels}) < 2:
        return ""
    shown = sorted({_level(v) for v in levels}, key=float, reverse=True)
    return LEVELS_NOTE.format(
        correction=correction_name(correction),
        count=len(levels),
        alpha=float(results.settings.get("alpha", 0.05)),
        levels=", ".join(f"{v}%" for v in shown),
    )


def health_checks(results: ExperimentResults) -> tuple[HealthCheckLine, ...]:
    """Every check of the snapshot, passed or not: SRM, multiple exposures, guardrails, power."""
    health = results.health
    if health is None:
        return ()
    lines = []
    srm = health.srm
    if srm is not None:
        counts = ", ".join(
            f"{results.variant_names.get(k, k)} {v:,}" for k, v in srm.counts.items()
        )
        p = f"p = {srm.p_value:.3g}" if srm.p_value is not None else "not testable yet"
        verdict = "mismatch" if srm.flag else "as planned"
        lines.append(
            HealthCheckLine(
                "srm",
                "Sample ratio",
                "failed" if srm.flag else "passed",
                f"Traffic split {verdict}: {counts} ({p}; flagged below {srm.threshold:g}).",
            )
        )
    multiple = health.multiple_exposures
    if multiple is not None:
        lines.append(
            HealthCheckLine(
                "multiple_exposures",
                "Multiple exposures",
                "warning" if multiple.warn else "passed",
                f"{multiple.excluded_units:,} of {multiple.units:,} units ({multiple.share:.1%}) "
                f"saw more than one variant and are left out (threshold {multiple.threshold:.1%}).",
            )
        )
    guardrails = health.guardrails
    if guardrails is not None:
        harmed = [r for r in guardrails.results if r.harmful]
        text = (
            "; ".join(f"{r.variant} harms {r.name} ({(r.harm or 0):+.1%})" for r in harmed)
            if harmed
            else f"No guardrail harmed ({len(guardrails.results)} checked)."
        )
        lines.append(
            HealthCheckLine("guardrail", "Guardrails", "failed" if harmed else "passed", text)
        )
    power = health.power
    if power is not None and power.detectable_effect is not None:
        planned = f" against the planned {power.planned_mde:.1%}" if power.planned_mde else ""
        lines.append(
            HealthCheckLine(
                "power",
                "Sensitivity",
                "info" if power.too_little_data else "passed",
                f"The primary metric can show changes of about {power.detectable_effect:.1%} "
                f"now{planned}.",
            )
        )
    return tuple(lines)
