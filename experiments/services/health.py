"""Health checks stored with every result snapshot, and the banners they raise.

* Sample ratio mismatch, per phase against that phase's weights (a legitimate change of
  weights starts a new phase, so it never looks like a mismatch), flagged at p < 0.001.
* Multiple exposures: the share of a phase's units seen in more than one variant (they are
  left out of the analysis), warned above ``Experiment.multiple_exposure_threshold``.
* Guardrail harm: a one-sided test that a variant makes a guardrail metric worse.
* Too little data: the smallest change the primary metric can detect now, against the
  planned minimum detectable effect.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from django.db.models import Count
from scipy import special

from experiments.models import Experiment, Exposure, MetricRole
from experiments.services.analysis.inputs import AnalysisInputs, AnalysisPlan
from experiments.services.analysis.outputs import (
    Row,
    statistics_arrays,
    statistics_lookup,
)
from experiments.stats import AnalysisSettings, analyze_guardrails, srm_test
from experiments.stats.settings import DEFAULT_SRM_THRESHOLD

SRM_THRESHOLD = DEFAULT_SRM_THRESHOLD
# Power used to turn the current standard error into a detectable effect.
DETECTION_POWER = 0.8

SRM_MESSAGE = (
    "Sample ratio mismatch in phase {phase}: {counts} against weights {weights} "
    "(p = {p_value:.2g}). Assignment or exposure logging is broken; do not trust these "
    "results until the cause is found."
)
MULTIPLE_EXPOSURE_MESSAGE = (
    "{share:.1%} of the units exposed in phase {phase} saw more than one variant (the "
    "threshold is {threshold:.1%}). They are left out of the analysis; check how variants "
    "are assigned and cached."
)
GUARDRAIL_MESSAGE = (
    "{variant} makes the guardrail {metric} worse by {harm:.1%} (one-sided p = {p_value:.2g})."
)
TOO_LITTLE_DATA_MESSAGE = (
    "With {units:,} units in the smallest variant, {metric} can show changes of about "
    "{mde:.1%} or more, but the plan is to detect {planned:.1%}; keep collecting data."
)


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{variant} {n:,}" for variant, n in counts.items())


def _fmt_weights(weights: dict[str, float]) -> str:
    return " / ".join(f"{w:g}" for w in weights.values())


def _srm(phase_number: int, counts: dict[str, int], weights: dict[str, float]) -> dict:
    """SRM of one phase; variants with weight 0 are left out (nobody should be assigned)."""
    keys = [k for k, w in weights.items() if w > 0]
    observed = [counts.get(k, 0) for k in keys]
    result: dict[str, Any] = {
        "phase": phase_number,
        "counts": {k: counts.get(k, 0) for k in weights},
        "weights": weights,
        "p_value": None,
        "flag": False,
        "status": "insufficient_data",
        "threshold": SRM_THRESHOLD,
    }
    if len(keys) < 2 or sum(observed) == 0:
        return result
    test = srm_test(observed, [weights[k] for k in keys], threshold=SRM_THRESHOLD)
    p_value = float(test.p_value)
    result.update(
        p_value=p_value if math.isfinite(p_value) else None,
        flag=bool(test.flag),
        status=str(test.status),
    )
    return result


def exposure_health(*, experiment: Experiment, phase_number: int) -> dict[str, Any]:
    """SRM for every phase, and the analysed phase's multiple-exposure share (one query)."""
    rows = (
        Exposure.objects.filter(experiment=experiment)
        .values("phase__number", "variant", "excluded")
        .annotate(units=Count("id"))
        .order_by()
    )
    included: dict[int, dict[str, int]] = {}
    excluded: dict[int, int] = {}
    for row in rows:
        number = row["phase__number"]
        if row["excluded"]:
            excluded[number] = excluded.get(number, 0) + row["units"]
        else:
            included.setdefault(number, {})[row["variant"]] = row["units"]
    phases = []
    for phase in experiment.phases.order_by("number"):
        weights = {k: float(w) for k, w in phase.weights.items()}
        phases.append(_srm(phase.number, included.get(phase.number, {}), weights))
    current = next((p for p in phases if p["phase"] == phase_number), None)
    units = sum(included.get(phase_number, {}).values()) + excluded.get(phase_number, 0)
    share = excluded.get(phase_number, 0) / units if units else 0.0
    threshold = experiment.multiple_exposure_threshold
    return {
        "srm": current,
        "srm_phases": phases,
        "multiple_exposures": {
            "phase": phase_number,
            "units": units,
            "excluded_units": excluded.get(phase_number, 0),
            "share": share,
            "threshold": threshold,
            "warn": share > threshold,
        },
    }


def guardrail_health(
    *, plan: AnalysisPlan, inputs: AnalysisInputs, settings: AnalysisSettings
) -> dict[str, Any]:
    """One-sided harm tests of every guardrail × treatment variant (relative harm).

    Harm is tested with the frequentist one-sided test even under the Bayesian engine: a
    guardrail asks "is there evidence of harm?", whichever engine reports the lift.
    """
    rows = [Row(m) for m in plan.metrics if m.role == MetricRole.GUARDRAIL]
    if not rows or len(plan.variants) < 2:
        return {"harmful": False, "results": []}
    statistics, types, directions = statistics_arrays(plan, statistics_lookup(inputs), rows)
    harm = analyze_guardrails(
        statistics,
        metric_type=types,
        higher_is_better=directions,
        settings=replace(settings, engine="frequentist", correction="none"),
    )
    results = []
    for i, row in enumerate(rows):
        for k, variant in enumerate(plan.variants[1:]):
            results.append(
                {
                    "metric": row.metric.key,
                    "name": row.metric.name,
                    "variant": variant,
                    "harm": _finite(harm.harm[i, k]),
                    "harm_lower_bound": _finite(harm.harm_lower_bound[i, k]),
                    "p_value": _finite(harm.p_value[i, k]),
                    "harmful": bool(harm.harmful[i, k]),
                    "status": str(harm.status[i, k]),
                }
            )
    return {"harmful": any(r["harmful"] for r in results), "results": results}


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def power_health(*, experiment: Experiment, outputs: dict[str, Any]) -> dict[str, Any]:
    """How small a change of the primary metric the data can detect now, against the plan.

    Detectable ≈ half-width of the reported interval + z₀.₈ × standard error: for a fixed
    horizon that is (z₁₋α/₂ + z₀.₈)·SE, and sequential or corrected intervals, being wider,
    make it larger, as they should.
    """
    primary = next((m for m in outputs.get("metrics", []) if m["role"] == "primary"), None)
    planned = experiment.planned_mde
    result: dict[str, Any] = {
        "metric": primary["key"] if primary else None,
        "planned_mde": planned,
        "detectable_effect": None,
        "units_per_variant": None,
        "planned_sample_size_per_variant": experiment.planned_sample_size_per_variant,
        "progress": None,
        "too_little_data": False,
    }
    if primary is None:
        return result
    units = min((v["n"] for v in primary["variants"]), default=0)
    result["units_per_variant"] = units
    if experiment.planned_sample_size_per_variant:
        result["progress"] = units / experiment.planned_sample_size_per_variant
    detectable = []
    z_power = float(special.ndtri(DETECTION_POWER))
    for c in primary["comparisons"]:
        if c["ci_low"] is None or c["ci_high"] is None or c["standard_error"] is None:
            continue
        detectable.append((c["ci_high"] - c["ci_low"]) / 2 + z_power * c["standard_error"])
    if detectable:
        result["detectable_effect"] = float(np.max(detectable))
    if planned:
        result["too_little_data"] = (
            result["detectable_effect"] is None or result["detectable_effect"] > planned
        )
    return result


def health_banners(health: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, str]]:
    """Human-readable warnings, most serious first: what a results page shows above the table."""
    banners = []
    for srm in health.get("srm_phases", []):
        if srm["flag"] and srm["phase"] == health["srm"]["phase"]:
            banners.append(
                {
                    "check": "srm",
                    "level": "error",
                    "message": SRM_MESSAGE.format(
                        phase=srm["phase"],
                        counts=_fmt_counts(srm["counts"]),
                        weights=_fmt_weights(srm["weights"]),
                        p_value=srm["p_value"],
                    ),
                }
            )
    for result in health.get("guardrails", {}).get("results", []):
        if result["harmful"]:
            banners.append(
                {
                    "check": "guardrail",
                    "level": "error",
                    "message": GUARDRAIL_MESSAGE.format(
                        variant=result["variant"],
                        metric=result["name"],
                        harm=result["harm"],
                        p_value=result["p_value"],
                    ),
                }
            )
    multiple = health.get("multiple_exposures", {})
    if multiple.get("warn"):
        banners.append(
            {
                "check": "multiple_exposures",
                "level": "warning",
                "message": MULTIPLE_EXPOSURE_MESSAGE.format(
                    share=multiple["share"],
                    phase=multiple["phase"],
                    threshold=multiple["threshold"],
                ),
            }
        )
    power = health.get("power", {})
    if power.get("too_little_data") and power.get("detectable_effect") is not None:
        name = next(
            (m["name"] for m in outputs.get("metrics", []) if m["key"] == power["metric"]),
            power["metric"],
        )
        banners.append(
            {
                "check": "power",
                "level": "info",
                "message": TOO_LITTLE_DATA_MESSAGE.format(
                    units=power["units_per_variant"],
                    metric=name,
                    mde=power["detectable_effect"],
                    planned=power["planned_mde"],
                ),
            }
        )
    return banners


def experiment_health(
    *,
    experiment: Experiment,
    plan: AnalysisPlan,
    inputs: AnalysisInputs,
    outputs: dict[str, Any],
    settings: AnalysisSettings,
) -> dict[str, Any]:
    """Every health check of one analysis, with its banners."""
    health = exposure_health(experiment=experiment, phase_number=plan.phase_number)
    health["guardrails"] = guardrail_health(plan=plan, inputs=inputs, settings=settings)
    health["power"] = power_health(experiment=experiment, outputs=outputs)
    health["banners"] = health_banners(health, outputs)
    return health
