"""Health checks stored with every result snapshot, and the banners they raise.

* Sample ratio mismatch, per phase against that phase's weights (a legitimate change of
  weights starts a new phase, so it never looks like a mismatch), flagged at p < 0.001, over
  the traffic that could be assigned: exposures of units held out by a workspace holdout,
  made while it ran, are left out (``experiments.holdouts.srm``), as they are left out of the
  results; a banner counts them.
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

from experiments.contracts import (
    AnalysisOutputs,
    Banner,
    GuardrailResult,
    Guardrails,
    Health,
    MultipleExposures,
    PowerCheck,
    SrmCheck,
)
from experiments.holdouts.srm import HeldOutExposures, held_out_exposures
from experiments.models import Experiment, Exposure, MetricRole
from experiments.services.analysis.inputs import AnalysisInputs, AnalysisPlan, statistics_lookup
from experiments.services.analysis.rows import Row, arm_status, statistics_arrays
from experiments.stats import AnalysisSettings, analyze_guardrails, srm_test
from experiments.stats.quantiles import comparison_status
from experiments.stats.settings import DEFAULT_SRM_THRESHOLD
from metrics.public import ExposureSummary

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
HELD_OUT_MESSAGE = (
    "{count:,} exposures in phase {phase} came from units in the workspace holdout, which get "
    "no variant; these {count:,} units are left out of the results and of the sample-ratio "
    "check. A client is probably logging the default experience as an exposure: log only when "
    "the SDK says the unit is in the experiment."
)
TOO_LITTLE_DATA_MESSAGE = (
    "With {units:,} units in the smallest variant, {metric} can show changes of about "
    "{mde:.1%} or more, but the plan is to detect {planned:.1%}; keep collecting data."
)


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{variant} {n:,}" for variant, n in counts.items())


def _fmt_weights(weights: dict[str, float]) -> str:
    return " / ".join(f"{w:g}" for w in weights.values())


def _srm(phase_number: int, counts: dict[str, int], weights: dict[str, float]) -> SrmCheck:
    """SRM of one phase; variants with weight 0 are left out (nobody should be assigned)."""
    keys = [k for k, w in weights.items() if w > 0]
    observed = [counts.get(k, 0) for k in keys]
    result = SrmCheck(
        phase=phase_number,
        counts={k: counts.get(k, 0) for k in weights},
        weights=weights,
        p_value=None,
        flag=False,
        status="insufficient_data",
        threshold=SRM_THRESHOLD,
    )
    if len(keys) < 2 or sum(observed) == 0:
        return result
    test = srm_test(observed, [weights[k] for k in keys], threshold=SRM_THRESHOLD)
    p_value = float(test.p_value)
    return replace(
        result,
        p_value=p_value if math.isfinite(p_value) else None,
        flag=bool(test.flag),
        status=str(test.status),
    )


def exposure_health(
    *,
    experiment: Experiment,
    phase_number: int,
    counted: ExposureSummary | None = None,
    held_out: HeldOutExposures | None = None,
) -> tuple[SrmCheck | None, tuple[SrmCheck, ...], MultipleExposures]:
    """SRM of the analysed phase and of every phase, and the analysed phase's
    multiple-exposure share (one query), over the non-holdout traffic: ``held_out`` (computed
    when not given) exposures are subtracted. A warehouse-native analysis passes the phase's
    ``counted`` exposures from its source instead (only the analysed phase is known then, and
    its units are not ours to hash: no holdout correction)."""
    included: dict[int, dict[str, int]] = {}
    excluded: dict[int, int] = {}
    phases_checked = experiment.phases.order_by("number")
    if counted is not None:
        included[phase_number] = dict(counted.units)
        excluded[phase_number] = counted.excluded_units
        phases_checked = phases_checked.filter(number=phase_number)
    else:
        rows = (
            Exposure.objects.filter(experiment=experiment)
            .values("phase__number", "variant", "excluded")
            .annotate(units=Count("id"))
            .order_by()
        )
        for row in rows:
            number = row["phase__number"]
            if row["excluded"]:
                excluded[number] = excluded.get(number, 0) + row["units"]
            else:
                included.setdefault(number, {})[row["variant"]] = row["units"]
        held = held_out if held_out is not None else held_out_exposures(experiment=experiment)
        for number, per_variant in held.included.items():
            for variant, n in per_variant.items():
                included[number][variant] -= n
        for number, n in held.excluded.items():
            excluded[number] -= n
    phases = []
    for phase in phases_checked:
        weights = {k: float(w) for k, w in phase.weights.items()}
        phases.append(_srm(phase.number, included.get(phase.number, {}), weights))
    current = next((p for p in phases if p.phase == phase_number), None)
    units = sum(included.get(phase_number, {}).values()) + excluded.get(phase_number, 0)
    share = excluded.get(phase_number, 0) / units if units else 0.0
    threshold = experiment.multiple_exposure_threshold
    multiple = MultipleExposures(
        phase=phase_number,
        units=units,
        excluded_units=excluded.get(phase_number, 0),
        share=share,
        threshold=threshold,
        warn=share > threshold,
    )
    return current, tuple(phases), multiple


def guardrail_health(
    *, plan: AnalysisPlan, inputs: AnalysisInputs, settings: AnalysisSettings
) -> Guardrails:
    """One-sided harm tests of every guardrail × treatment variant (relative harm).

    Harm is tested with the frequentist one-sided test even under the Bayesian engine: a
    guardrail asks "is there evidence of harm?", whichever engine reports the lift.
    """
    rows = [Row(m) for m in plan.metrics if m.role == MetricRole.GUARDRAIL]
    if not rows or len(plan.variants) < 2:
        return Guardrails(harmful=False, results=())
    lookup = statistics_lookup(inputs)
    statistics, types, directions = statistics_arrays(plan, lookup, rows)
    # A quantile the small-sample guard refuses has no harm test: its status says why.
    refused = comparison_status(arm_status(plan, lookup, rows))
    harm = analyze_guardrails(
        statistics,
        metric_type=types,
        higher_is_better=directions,
        settings=replace(settings, engine="frequentist", correction="none"),
    )
    results = tuple(
        GuardrailResult(
            metric=row.metric.key,
            name=row.metric.name,
            variant=variant,
            harm=_finite(harm.harm[i, k]),
            harm_lower_bound=_finite(harm.harm_lower_bound[i, k]),
            p_value=_finite(harm.p_value[i, k]),
            harmful=bool(harm.harmful[i, k]),
            status=str(refused[i, k] if refused[i, k] != "ok" else harm.status[i, k]),
        )
        for i, row in enumerate(rows)
        for k, variant in enumerate(plan.variants[1:])
    )
    return Guardrails(harmful=any(r.harmful for r in results), results=results)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def power_health(*, experiment: Experiment, outputs: AnalysisOutputs) -> PowerCheck:
    """How small a change of the primary metric the data can detect now, against the plan.

    Detectable ≈ half-width of the reported interval + z₀.₈ × standard error: for a fixed
    horizon that is (z₁₋α/₂ + z₀.₈)·SE, and sequential or corrected intervals, being wider,
    make it larger, as they should.
    """
    primary = outputs.primary
    planned = experiment.planned_mde
    planned_size = experiment.planned_sample_size_per_variant
    if primary is None:
        return PowerCheck(
            metric=None,
            planned_mde=planned,
            detectable_effect=None,
            units_per_variant=None,
            planned_sample_size_per_variant=planned_size,
            progress=None,
            too_little_data=False,
        )
    units = primary.smallest_n
    z_power = float(special.ndtri(DETECTION_POWER))
    detectable = [
        (c.ci_high - c.ci_low) / 2 + z_power * c.standard_error
        for c in primary.comparisons
        if c.ci_low is not None and c.ci_high is not None and c.standard_error is not None
    ]
    detectable_effect = float(np.max(detectable)) if detectable else None
    too_little_data = False
    if planned:
        too_little_data = detectable_effect is None or detectable_effect > planned
    return PowerCheck(
        metric=primary.key,
        planned_mde=planned,
        detectable_effect=detectable_effect,
        units_per_variant=units,
        planned_sample_size_per_variant=planned_size,
        progress=units / planned_size if planned_size else None,
        too_little_data=too_little_data,
    )


def health_banners(
    *,
    srm: SrmCheck | None,
    srm_phases: tuple[SrmCheck, ...],
    multiple: MultipleExposures,
    guardrails: Guardrails,
    power: PowerCheck,
    outputs: AnalysisOutputs,
) -> tuple[Banner, ...]:
    """Human-readable warnings, most serious first: what a results page shows above the table."""
    banners = [
        Banner(
            check="srm",
            level="error",
            message=SRM_MESSAGE.format(
                phase=s.phase,
                counts=_fmt_counts(s.counts),
                weights=_fmt_weights(s.weights),
                p_value=s.p_value,
            ),
        )
        for s in srm_phases
        if s.flag and srm is not None and s.phase == srm.phase
    ]
    banners += [
        Banner(
            check="guardrail",
            level="error",
            message=GUARDRAIL_MESSAGE.format(
                variant=r.variant, metric=r.name, harm=r.harm, p_value=r.p_value
            ),
        )
        for r in guardrails.results
        if r.harmful
    ]
    if multiple.warn:
        banners.append(
            Banner(
                check="multiple_exposures",
                level="warning",
                message=MULTIPLE_EXPOSURE_MESSAGE.format(
                    share=multiple.share, phase=multiple.phase, threshold=multiple.threshold
                ),
            )
        )
    primary = outputs.primary
    decided = primary is not None and any(c.verdict in ("win", "loss") for c in primary.comparisons)
    # A decisive primary result needs no more data: "keep collecting" would contradict it.
    if power.too_little_data and power.detectable_effect is not None and not decided:
        metric = outputs.metric(power.metric) if power.metric else None
        banners.append(
            Banner(
                check="power",
                level="info",
                message=TOO_LITTLE_DATA_MESSAGE.format(
                    units=power.units_per_variant,
                    metric=metric.name if metric is not None else power.metric,
                    mde=power.detectable_effect,
                    planned=power.planned_mde,
                ),
            )
        )
    return tuple(banners)


def experiment_health(
    *,
    experiment: Experiment,
    plan: AnalysisPlan,
    inputs: AnalysisInputs,
    outputs: AnalysisOutputs,
    settings: AnalysisSettings,
    held_out: HeldOutExposures | None = None,
) -> Health:
    """Every health check of one analysis, with its banners. ``held_out``: the exposures of
    held-out units the analysis left out (computed here when not given)."""
    held = held_out
    if held is None and inputs.exposures is None:
        held = held_out_exposures(experiment=experiment)
    srm, srm_phases, multiple = exposure_health(
        experiment=experiment,
        phase_number=plan.phase_number,
        counted=inputs.exposures,
        held_out=held,
    )
    guardrails = guardrail_health(plan=plan, inputs=inputs, settings=settings)
    power = power_health(experiment=experiment, outputs=outputs)
    return Health(
        srm=srm,
        srm_phases=srm_phases,
        multiple_exposures=multiple,
        guardrails=guardrails,
        power=power,
        banners=health_banners(
            srm=srm,
            srm_phases=srm_phases,
            multiple=multiple,
            guardrails=guardrails,
            power=power,
            outputs=outputs,
        )
        + _held_out_banners(held, plan.phase_number),
    )


def _held_out_banners(held: HeldOutExposures | None, phase: int) -> tuple[Banner, ...]:
    count = held.in_phase(phase) if held is not None else 0
    if not count:
        return ()
    return (
        Banner(
            check="holdout",
            level="warning",
            message=HELD_OUT_MESSAGE.format(count=count, phase=phase),
        ),
    )
