"""The vectorised analysis: every metric × segment × variant comparison of an experiment at once.

Orchestrates ``effects`` (lift, CUPED), then ``frequentist`` or ``sequential`` (with
``corrections``) or ``bayesian``. Input arrays have shape (..., V) with the control at index 0;
every output array has shape (..., V − 1), one entry per treatment variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from experiments.stats.bayesian import bayesian_inference
from experiments.stats.corrections import adjust_p_values, corrected_alpha
from experiments.stats.effects import EffectEstimates, estimate_effects
from experiments.stats.frequentist import Inference, welch_inference
from experiments.stats.messages import NUMERICAL_ERROR, OK, STATUS_MESSAGES
from experiments.stats.sequential import confidence_sequence, sequential_rho
from experiments.stats.settings import AnalysisSettings
from experiments.stats.sufficient_statistics import (
    BoolArray,
    FloatArray,
    StatusArray,
    SufficientStatistics,
)


@dataclass(frozen=True)
class BatchAnalysis:
    """Results per comparison, arrays of shape (..., V − 1).

    Frequentist: ``p_value`` is the corrected p-value when a correction is set (else the raw
    one, also kept in ``p_value_unadjusted``) and the interval is the one that agrees with it,
    at level ``ci_level``; with ``sequential`` both are always-valid. Bayesian: ``effect`` is the
    posterior mean, the interval is the credible interval, p-values are None. A value is NaN
    only where ``status`` is not "ok" (``effect`` is also kept for "zero_variance").
    """

    effect: FloatArray
    standard_error: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    ci_level: FloatArray
    p_value: FloatArray | None
    p_value_unadjusted: FloatArray | None
    chance_to_win: FloatArray | None
    risk: FloatArray | None
    risk_control: FloatArray | None
    degrees_of_freedom: FloatArray
    control_mean: FloatArray
    variant_mean: FloatArray
    theta: FloatArray
    variance_reduction: FloatArray
    status: StatusArray
    settings: AnalysisSettings

    @property
    def messages(self) -> npt.NDArray[np.str_]:
        """Plain-English message per comparison ("" when the status is ok)."""
        lookup = np.vectorize(STATUS_MESSAGES.__getitem__, otypes=[str])
        return np.asarray(lookup(self.status)) if self.status.size else self.status.copy()


def _direction(higher_is_better: bool | npt.ArrayLike, leading: tuple[int, ...]) -> BoolArray:
    direction = np.asarray(higher_is_better, dtype=bool)
    return np.broadcast_to(direction, leading)[..., None] if direction.ndim else direction


def _frequentist(
    estimates: EffectEstimates, settings: AnalysisSettings
) -> tuple[Inference, FloatArray, FloatArray]:
    """Return (inference at the corrected level, unadjusted p-values, per-comparison level α')."""
    rho = 0.0
    if settings.sequential:
        one_sided = settings.alternative != "two_sided"
        rho = sequential_rho(settings.alpha, settings.sequential_tuning, one_sided=one_sided)

    def infer(alpha: float | FloatArray) -> Inference:
        if settings.sequential:
            return confidence_sequence(estimates, alpha, rho=rho, alternative=settings.alternative)
        return welch_inference(estimates, alpha, settings.alternative)

    raw = infer(settings.alpha)
    level = np.full(estimates.effect.shape, settings.alpha)
    if settings.correction == "none":
        return raw, raw.p_value, level
    adjusted = adjust_p_values(raw.p_value, settings.correction)
    level = corrected_alpha(raw.p_value, adjusted, settings.alpha)
    corrected = infer(level)
    return Inference(corrected.ci_low, corrected.ci_high, adjusted), raw.p_value, level


def analyze_batch(
    statistics: SufficientStatistics,
    *,
    metric_type: Any = "mean",
    settings: AnalysisSettings | None = None,
    higher_is_better: bool | npt.ArrayLike = True,
) -> BatchAnalysis:
    """Compare every variant with the control for every row of ``statistics`` in one pass.

    ``metric_type`` and ``higher_is_better`` are scalars or arrays over the leading axes
    (one per metric/segment row). CUPED is applied to mean and proportion rows whenever
    covariate sums are present and ``settings.cuped`` is true; ratio rows are not adjusted.
    Corrections treat every comparison of the call as one family.
    """
    settings = settings or AnalysisSettings()
    estimates = estimate_effects(statistics, metric_type, settings.difference, cuped=settings.cuped)
    ok = estimates.ok
    common: dict[str, Any] = {
        "degrees_of_freedom": estimates.degrees_of_freedom,
        "control_mean": estimates.control_mean,
        "variant_mean": estimates.variant_mean,
        "theta": estimates.theta,
        "variance_reduction": estimates.variance_reduction,
        "status": estimates.status,
        "settings": settings,
    }
    if settings.engine == "bayesian":
        direction = _direction(higher_is_better, statistics.shape[:-1])
        posterior = bayesian_inference(estimates, settings.prior, settings.alpha, direction)
        effect = np.where(ok, posterior.mean, estimates.effect)
        fields: dict[str, Any] = {
            "effect": np.asarray(effect, dtype=np.float64),
            "standard_error": posterior.standard_deviation,
            "ci_low": posterior.ci_low,
            "ci_high": posterior.ci_high,
            "ci_level": np.full(effect.shape, 1.0 - settings.alpha),
            "p_value": None,
            "p_value_unadjusted": None,
            "chance_to_win": posterior.chance_to_win,
            "risk": posterior.risk,
            "risk_control": posterior.risk_control,
        }
    else:
        inference, raw_p, level = _frequentist(estimates, settings)
        fields = {
            "effect": estimates.effect,
            "standard_error": estimates.standard_error,
            "ci_low": inference.ci_low,
            "ci_high": inference.ci_high,
            "ci_level": np.asarray(1.0 - level, dtype=np.float64),
            "p_value": inference.p_value,
            "p_value_unadjusted": raw_p,
            "chance_to_win": None,
            "risk": None,
            "risk_control": None,
        }
    return BatchAnalysis(**_withhold_non_finite({**common, **fields}))


# Outputs that must be finite under an "ok" status; interval bounds may be ±inf (one-sided) but
# never NaN.
_FINITE_WHEN_OK = (
    "effect",
    "standard_error",
    "p_value",
    "p_value_unadjusted",
    "chance_to_win",
    "risk",
    "risk_control",
)
_WITHHELD = _FINITE_WHEN_OK + ("ci_low", "ci_high", "degrees_of_freedom", "variance_reduction")


def _withhold_non_finite(fields: dict[str, Any]) -> dict[str, Any]:
    """Turn an "ok" comparison whose numbers overflowed into "numerical_error", numbers withheld.

    The estimates are checked before inference, but an extreme α or standard error can still
    overflow a quantile or an interval bound; this last check keeps the promise that "ok"
    always comes with finite numbers.
    """
    status = fields["status"]
    broken = np.zeros(status.shape, dtype=bool)
    for name in _FINITE_WHEN_OK:
        if fields[name] is not None:
            broken |= ~np.isfinite(fields[name])
    for name in ("ci_low", "ci_high"):
        broken |= np.isnan(fields[name])
    broken &= status == OK
    if not broken.any():
        return fields
    fields["status"] = np.where(broken, NUMERICAL_ERROR, status)
    for name in _WITHHELD:
        if fields[name] is not None:
            fields[name] = np.where(broken, np.nan, fields[name])
    return fields
