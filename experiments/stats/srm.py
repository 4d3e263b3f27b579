"""Sample ratio mismatch: chi-square goodness of fit of unit counts to the configured weights.

Pearson's χ² test with k − 1 degrees of freedom, as recommended by Kohavi, Tang & Xu (2020),
"Trustworthy Online Controlled Experiments", ch. 21 (and Fabijan et al. 2019): flag at p < 0.001.
Vectorised over any leading axes (segments, days); the last axis is the variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from experiments.stats.messages import (
    INSUFFICIENT_DATA,
    INVALID_INPUT,
    NUMERICAL_ERROR,
    OK,
    TOO_FEW_VARIANTS_ERROR,
    WEIGHTS_LENGTH_ERROR,
    WEIGHTS_VALUE_ERROR,
    StatsInputError,
)
from experiments.stats.settings import DEFAULT_SRM_THRESHOLD, check_srm_threshold
from experiments.stats.sufficient_statistics import (
    BoolArray,
    FloatArray,
    StatusArray,
    status_from_conditions,
)


@dataclass(frozen=True)
class SrmResult:
    """χ² statistic, p-value and flag per row; p-value is NaN only with a non-ok status."""

    chi_square: FloatArray
    p_value: FloatArray
    flag: BoolArray
    status: StatusArray
    threshold: float


def srm_test(
    counts: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """χ² = Σ (observed − expected)² / expected with expected = total · wᵢ / Σw; df = k − 1."""
    check_srm_threshold(threshold)
    observed = np.asarray(counts, dtype=np.float64)
    if observed.ndim < 1 or observed.shape[-1] < 2:
        raise StatsInputError("variants", TOO_FEW_VARIANTS_ERROR)
    k = observed.shape[-1]
    if weights is None:
        share = np.full(k, 1.0 / k)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape[-1:] != (k,):
            raise StatsInputError("weights", WEIGHTS_LENGTH_ERROR)
        if not np.all(np.isfinite(w) & (w > 0)):
            raise StatsInputError("weights", WEIGHTS_VALUE_ERROR)
        share = w / w.sum(axis=-1, keepdims=True)
    invalid = np.any(~np.isfinite(observed) | (observed < 0), axis=-1)
    with np.errstate(all="ignore"):
        total = observed.sum(axis=-1, keepdims=True)
        expected = total * share
        chi_square = np.sum((observed - expected) ** 2 / expected, axis=-1)
        p_value = special.chdtrc(k - 1, chi_square)
    status = status_from_conditions(
        chi_square.shape,
        [
            (invalid, INVALID_INPUT),
            (total[..., 0] <= 0, INSUFFICIENT_DATA),
            (~np.isfinite(chi_square), NUMERICAL_ERROR),
        ],
    )
    ok = status == OK
    p_value = np.where(ok, p_value, np.nan)
    return SrmResult(
        chi_square=np.asarray(np.where(ok, chi_square, np.nan), dtype=np.float64),
        p_value=np.asarray(p_value, dtype=np.float64),
        flag=np.asarray(ok & (p_value < threshold)),
        status=status,
        threshold=threshold,
    )
