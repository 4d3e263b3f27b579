"""Sufficient statistics per variant, and the per-arm means and variances derived from them.

Arrays have any leading shape (metrics, segments, ...) and end in the variant axis; variant 0
is the control. Conventions follow gbstats ``models/statistics.py``: sample variance with
n − 1 for means, p(1 − p) for proportions, delta-method variance for ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from experiments.stats.messages import (
    COVARIATE_FIELDS_ERROR,
    INSUFFICIENT_DATA,
    INVALID_INPUT,
    NEGATIVE_VARIANCE,
    OK,
    RATIO_FIELDS_ERROR,
    SHAPE_ERROR,
    STATUS_PRIORITY,
    UNKNOWN_OPTION_ERROR,
    ZERO_DENOMINATOR,
    StatsInputError,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StatusArray = npt.NDArray[np.str_]

STATUS_DTYPE = "<U24"
# A second moment whose raw value is negative by less than this fraction of the sum of squares
# is rounding noise (float aggregation in SQL) and is treated as zero; beyond it, a status.
ROUNDING_TOLERANCE = 1e-9
MIN_UNITS = 2

_RATIO_FIELDS = ("denominator_sum", "denominator_sum_squares", "sum_product")
_COVARIATE_FIELDS = ("covariate_sum", "covariate_sum_squares", "covariate_sum_product")


@dataclass(frozen=True)
class SufficientStatistics:
    """Per-variant sums for one or many metrics; every field broadcasts to one shape (..., V).

    ``sum``/``sum_squares`` are Σx and Σx² of the metric (the numerator, for ratios). Ratio
    metrics add the denominator's Σy, Σy² and Σxy. CUPED adds the pre-period covariate's Σz,
    Σz² and Σxz. For proportions ``sum_squares`` is ignored (it equals ``sum`` for 0/1 data).
    """

    n: FloatArray
    sum: FloatArray
    sum_squares: FloatArray
    denominator_sum: FloatArray | None = None
    denominator_sum_squares: FloatArray | None = None
    sum_product: FloatArray | None = None
    covariate_sum: FloatArray | None = None
    covariate_sum_squares: FloatArray | None = None
    covariate_sum_product: FloatArray | None = None

    def __post_init__(self) -> None:
        for group, message in (
            (_RATIO_FIELDS, RATIO_FIELDS_ERROR),
            (_COVARIATE_FIELDS, COVARIATE_FIELDS_ERROR),
        ):
            given = [getattr(self, name) is not None for name in group]
            if any(given) and not all(given):
                raise StatsInputError(group[given.index(False)], message)
        present = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in present.items() if v is not None}
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
        except ValueError as error:
            raise StatsInputError("variants", SHAPE_ERROR) from error
        if len(shape) < 1:
            raise StatsInputError("variants", SHAPE_ERROR)
        for name, array in arrays.items():
            object.__setattr__(self, name, np.broadcast_to(array, shape))

    @property
    def shape(self) -> tuple[int, ...]:
        """Full shape, ending in the variant axis."""
        return tuple(self.n.shape)

    @property
    def has_ratio(self) -> bool:
        return self.denominator_sum is not None

    @property
    def has_covariate(self) -> bool:
        return self.covariate_sum is not None

    def ratio_sums(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(Σy, Σy², Σxy) of the denominator; raises if this is not ratio data."""
        y, y2, xy = self.denominator_sum, self.denominator_sum_squares, self.sum_product
        if y is None or y2 is None or xy is None:
            raise StatsInputError("denominator_sum", RATIO_FIELDS_ERROR)
        return y, y2, xy

    def covariate_sums(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(Σz, Σz², Σxz) of the pre-period covariate; raises if CUPED data is absent."""
        z, z2, xz = self.covariate_sum, self.covariate_sum_squares, self.covariate_sum_product
        if z is None or z2 is None or xz is None:
            raise StatsInputError("covariate_sum", COVARIATE_FIELDS_ERROR)
        return z, z2, xz


@dataclass(frozen=True)
class ArmMoments:
    """Per-variant estimates: Var(mean) = variance / n. Covariate fields are set for CUPED
    (zero where ``covariate_usable`` is false: ratio rows, or missing/inconsistent sums)."""

    n: FloatArray
    mean: FloatArray
    variance: FloatArray
    status: StatusArray
    is_proportion: BoolArray
    is_ratio: BoolArray
    covariate_mean: FloatArray | None = None
    covariate_variance: FloatArray | None = None
    covariance: FloatArray | None = None
    covariate_usable: BoolArray | None = None

    def covariate_moments(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(z̄, σ²_z, σ_xz) per arm; raises if no covariate was given."""
        z_mean, z_var, cov = self.covariate_mean, self.covariate_variance, self.covariance
        if z_mean is None or z_var is None or cov is None:
            raise StatsInputError("covariate_sum", COVARIATE_FIELDS_ERROR)
        return z_mean, z_var, cov


def metric_kind_masks(metric_type: Any, leading_shape: tuple[int, ...]) -> tuple[BoolArray, ...]:
    """Return (is_proportion, is_ratio) of shape leading_shape + (1,), from a name or array."""
    kinds = np.asarray(metric_type)
    allowed = ("proportion", "mean", "ratio")
    unknown = ~np.isin(kinds, allowed)
    if np.any(unknown):
        bad = kinds[unknown].ravel()[0] if kinds.ndim else kinds.item()
        message = UNKNOWN_OPTION_ERROR.format(value=bad, allowed=allowed)
        raise StatsInputError("metric_type", message)
    try:
        kinds = np.broadcast_to(kinds, leading_shape)
    except ValueError as error:
        raise StatsInputError("metric_type", SHAPE_ERROR) from error
    return (kinds == "proportion")[..., None], (kinds == "ratio")[..., None]


def status_from_conditions(
    shape: tuple[int, ...], conditions: list[tuple[npt.NDArray[Any], str]]
) -> StatusArray:
    """Build a status array: the first condition (in the order given) that holds wins."""
    status = np.full(shape, OK, dtype=STATUS_DTYPE)
    for mask, code in reversed(conditions):
        status = np.where(mask, code, status)
    return status


def merge_status(*statuses: StatusArray) -> StatusArray:
    """Combine status arrays element-wise, keeping the highest-priority code."""
    shape = np.broadcast_shapes(*(s.shape for s in statuses))
    merged = np.full(shape, OK, dtype=STATUS_DTYPE)
    for code in reversed(STATUS_PRIORITY):
        hit = np.zeros(shape, dtype=bool)
        for status in statuses:
            hit = hit | (status == code)
        merged = np.where(hit, code, merged)
    return merged


def _second_moment(
    sum_squares: FloatArray, total: FloatArray, mean: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Return (Σx² − Σx·x̄ clamped at 0 when only rounding made it negative, is_negative)."""
    m2 = sum_squares - total * mean
    tolerance = ROUNDING_TOLERANCE * np.abs(sum_squares)
    negative = m2 < -tolerance
    return np.where(m2 < 0, 0.0, m2), negative


def _not_finite(*arrays: FloatArray | None) -> BoolArray:
    bad: BoolArray = np.zeros((), dtype=bool)
    for array in arrays:
        if array is not None:
            bad = bad | ~np.isfinite(array)
    return bad


def arm_moments(stats: SufficientStatistics, metric_type: Any) -> ArmMoments:
    """Means and per-unit variances per variant, with an arm-level status.

    Ratio (Deng et al. 2018, delta method): r = x̄/ȳ, Var = (σ²ₓ − 2r·σₓᵧ + r²σ²ᵧ) / ȳ².
    """
    is_prop, is_ratio = metric_kind_masks(metric_type, stats.shape[:-1])
    n = stats.n
    with np.errstate(all="ignore"):
        safe_n = np.where(n > 0, n, 1.0)
        divisor = np.where(is_prop, safe_n, np.maximum(n - 1.0, 1.0))
        mean_x = stats.sum / safe_n
        m2_x, negative = _second_moment(stats.sum_squares, stats.sum, mean_x)
        negative = negative & ~is_prop
        var_x = np.where(is_prop, mean_x * (1.0 - mean_x), m2_x / divisor)
        invalid = _not_finite(n, stats.sum) | (n < 0)
        invalid = invalid | (~is_prop & (_not_finite(stats.sum_squares) | (stats.sum_squares < 0)))
        invalid = invalid | (is_prop & ((stats.sum < 0) | (stats.sum > n * (1 + 1e-12))))
        mean, variance = mean_x, np.maximum(var_x, 0.0)
        zero_denominator = np.zeros(stats.shape, dtype=bool)

        if stats.has_ratio:
            sum_y, sum_squares_y, sum_xy = stats.ratio_sums()
            mean_y = sum_y / safe_n
            m2_y, negative_y = _second_moment(sum_squares_y, sum_y, mean_y)
            var_y = m2_y / divisor
            cov_xy = (sum_xy - stats.sum * mean_y) / divisor
            safe_y = np.where(mean_y != 0, mean_y, 1.0)
            ratio = mean_x / safe_y
            var_ratio = (var_x - 2 * ratio * cov_xy + ratio**2 * var_y) / safe_y**2
            scale = (var_x + ratio**2 * var_y) / safe_y**2
            not_psd = var_ratio < -ROUNDING_TOLERANCE * np.abs(scale)
            mean = np.where(is_ratio, ratio, mean)
            variance = np.where(is_ratio, np.maximum(var_ratio, 0.0), variance)
            negative = negative | (is_ratio & (negative_y | not_psd))
            ratio_inputs = _not_finite(sum_y, sum_squares_y, sum_xy) | (sum_squares_y < 0)
            invalid = invalid | (is_ratio & ratio_inputs)
            zero_denominator = is_ratio & (sum_y == 0)

        covariate_mean = covariate_variance = covariance = covariate_usable = None
        if stats.has_covariate:
            sum_z, sum_squares_z, sum_xz = stats.covariate_sums()
            z_mean = sum_z / safe_n
            m2_z, negative_z = _second_moment(sum_squares_z, sum_z, z_mean)
            # A missing (NaN) or inconsistent covariate only switches CUPED off for its row.
            covariate_usable = ~is_ratio & ~_not_finite(sum_z, sum_squares_z, sum_xz) & ~negative_z
            covariate_mean = np.where(covariate_usable, z_mean, 0.0)
            covariate_variance = np.where(covariate_usable, m2_z / divisor, 0.0)
            covariance = np.where(covariate_usable, (sum_xz - stats.sum * z_mean) / divisor, 0.0)

    status = status_from_conditions(
        stats.shape,
        [
            (invalid, INVALID_INPUT),
            (n < MIN_UNITS, INSUFFICIENT_DATA),
            (negative, NEGATIVE_VARIANCE),
            (zero_denominator, ZERO_DENOMINATOR),
        ],
    )
    return ArmMoments(
        n=np.asarray(n, dtype=np.float64),
        mean=np.asarray(mean, dtype=np.float64),
        variance=np.asarray(variance, dtype=np.float64),
        status=status,
        is_proportion=is_prop,
        is_ratio=is_ratio,
        covariate_mean=covariate_mean,
        covariate_variance=covariate_variance,
        covariance=covariance,
        covariate_usable=covariate_usable,
    )
