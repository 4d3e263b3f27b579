"""Status codes and plain-English messages for results the engine cannot fully compute.

Degenerate data never raises: every comparison carries one of these codes and its message
(after gbstats' ``messages.py``). Malformed *requests* (an unknown option, alpha outside (0, 1),
too few variants) raise :class:`StatsInputError` instead, naming the offending field.
"""

from __future__ import annotations

from typing import Final, Literal

StatusCode = Literal[
    "ok",
    "invalid_input",
    "insufficient_data",
    "negative_variance",
    "zero_denominator",
    "zero_control_mean",
    "zero_variance",
    "numerical_error",
    "quantile_too_few_units",
    "quantile_band_outside",
    "quantile_ties",
]

OK: Final = "ok"
INVALID_INPUT: Final = "invalid_input"
INSUFFICIENT_DATA: Final = "insufficient_data"
NEGATIVE_VARIANCE: Final = "negative_variance"
ZERO_DENOMINATOR: Final = "zero_denominator"
ZERO_CONTROL_MEAN: Final = "zero_control_mean"
ZERO_VARIANCE: Final = "zero_variance"
NUMERICAL_ERROR: Final = "numerical_error"
QUANTILE_TOO_FEW_UNITS: Final = "quantile_too_few_units"
QUANTILE_BAND_OUTSIDE: Final = "quantile_band_outside"
QUANTILE_TIES: Final = "quantile_ties"

# Earlier codes win when several apply to one comparison.
STATUS_PRIORITY: Final[tuple[StatusCode, ...]] = (
    INVALID_INPUT,
    INSUFFICIENT_DATA,
    QUANTILE_TOO_FEW_UNITS,
    QUANTILE_BAND_OUTSIDE,
    QUANTILE_TIES,
    NEGATIVE_VARIANCE,
    ZERO_DENOMINATOR,
    ZERO_CONTROL_MEAN,
    ZERO_VARIANCE,
    NUMERICAL_ERROR,
)

OK_MESSAGE: Final = ""
INVALID_INPUT_MESSAGE: Final = (
    "The inputs are not valid sufficient statistics: a count or sum is negative or not a "
    "finite number, or a proportion metric has more conversions than units."
)
INSUFFICIENT_DATA_MESSAGE: Final = (
    "Each variant needs at least 2 units before it can be compared; wait for more data."
)
NEGATIVE_VARIANCE_MESSAGE: Final = (
    "The sums of squares are too small for the sums and counts given, so a variance would be "
    "negative; the inputs are inconsistent (check how they were aggregated)."
)
ZERO_DENOMINATOR_MESSAGE: Final = (
    "The ratio metric's denominator sums to zero in a variant, so the ratio is undefined."
)
ZERO_CONTROL_MEAN_MESSAGE: Final = (
    "The control's mean is zero, so a relative (percentage) change is undefined; "
    "use the absolute difference instead."
)
ZERO_VARIANCE_MESSAGE: Final = (
    "Every unit in both variants has the same value (zero variance), so there is no "
    "uncertainty to estimate and no interval or test can be computed."
)
NUMERICAL_ERROR_MESSAGE: Final = (
    "The computation overflowed or lost all precision for these inputs; the result is withheld."
)
QUANTILE_TOO_FEW_UNITS_MESSAGE: Final = (
    "A quantile needs at least 100 values in each variant (and, for event-level quantiles, "
    "at least 2 units) before its interval can be trusted; wait for more data."
)
QUANTILE_BAND_OUTSIDE_MESSAGE: Final = (
    "Too few values for a quantile this extreme: its confidence band, q ± 1.96·√(q(1 − q)/n), "
    "reaches past the smallest or largest value. Wait for more data, or compare a less "
    "extreme quantile (p90 rather than p99)."
)
QUANTILE_TIES_MESSAGE: Final = (
    "So many values equal the quantile that the values around it are all the same, and its "
    "interval cannot be estimated. Compare another quantile, or a metric with finer values."
)

STATUS_MESSAGES: Final[dict[str, str]] = {
    OK: OK_MESSAGE,
    INVALID_INPUT: INVALID_INPUT_MESSAGE,
    INSUFFICIENT_DATA: INSUFFICIENT_DATA_MESSAGE,
    NEGATIVE_VARIANCE: NEGATIVE_VARIANCE_MESSAGE,
    ZERO_DENOMINATOR: ZERO_DENOMINATOR_MESSAGE,
    ZERO_CONTROL_MEAN: ZERO_CONTROL_MEAN_MESSAGE,
    ZERO_VARIANCE: ZERO_VARIANCE_MESSAGE,
    NUMERICAL_ERROR: NUMERICAL_ERROR_MESSAGE,
    QUANTILE_TOO_FEW_UNITS: QUANTILE_TOO_FEW_UNITS_MESSAGE,
    QUANTILE_BAND_OUTSIDE: QUANTILE_BAND_OUTSIDE_MESSAGE,
    QUANTILE_TIES: QUANTILE_TIES_MESSAGE,
}

SRM_NO_UNITS_MESSAGE: Final = "No units were counted, so the traffic split cannot be checked."
SRM_DETECTED_MESSAGE: Final = (
    "Sample ratio mismatch: the split of units between variants is very unlikely under the "
    "configured weights (p = {p_value:.2g}). Find the cause before trusting any result."
)
SRM_OK_MESSAGE: Final = "The split of units between variants matches the configured weights."

# Request errors (raised, never returned).
TOO_FEW_VARIANTS_ERROR: Final = "At least two variants are needed: a control and a treatment."
ALPHA_RANGE_ERROR: Final = "alpha must be strictly between 0 and 1."
POWER_RANGE_ERROR: Final = "power must be strictly between 0 and 1."
TUNING_ERROR: Final = "sequential_tuning must be a positive number of units."
PRIOR_VARIANCE_ERROR: Final = "A proper prior needs a positive, finite variance."
WEIGHTS_LENGTH_ERROR: Final = "weights must have one entry per variant."
WEIGHTS_VALUE_ERROR: Final = "weights must be positive, finite numbers."
SRM_THRESHOLD_ERROR: Final = "srm_threshold must be strictly between 0 and 1."
RATIO_FIELDS_ERROR: Final = (
    "Ratio metrics need denominator_sum, denominator_sum_squares and sum_product."
)
QUANTILE_LEVEL_ERROR: Final = (
    "Quantile metrics need quantile_level, the quantile compared, strictly between 0 and 1 "
    "(0.9 for p90)."
)
QUANTILE_SUMS_ERROR: Final = (
    "A quantile metric takes n, quantile, lower, upper (and n_star), not {name}."
)
QUANTILE_ONLY_ERROR: Final = "{name} applies to quantile metrics only."
QUANTILE_ORDER_ERROR: Final = (
    "lower must be at most the quantile and upper at least it: they are the sample quantiles "
    "at quantile_level ∓ 1.96·√(quantile_level·(1 − quantile_level)/n_star)."
)
QUANTILE_N_STAR_ERROR: Final = "n_star (the band's sample size) must be between 1 and n."
COVARIATE_FIELDS_ERROR: Final = (
    "CUPED needs covariate_sum, covariate_sum_squares and covariate_sum_product together."
)
SHAPE_ERROR: Final = "All statistics arrays must broadcast to one shape ending in the variant axis."
UNKNOWN_OPTION_ERROR: Final = "{value!r} is not one of {allowed}."
BASELINE_ERROR: Final = (
    "Give either baseline_rate (a proportion strictly between 0 and 1) or baseline_mean "
    "with a positive baseline_variance."
)
MDE_OR_SIZE_ERROR: Final = (
    "Give exactly one of mde (to get a sample size) or sample_size_per_variant (to get an MDE)."
)
MDE_VALUE_ERROR: Final = "mde must be positive (and keep a rate between 0 and 1)."
SAMPLE_SIZE_ERROR: Final = "sample_size_per_variant must be at least 2."
TRAFFIC_ERROR: Final = "daily_traffic must be a positive number of units per day."
MARGIN_ERROR: Final = "margin must be a non-negative, finite number."


class StatsInputError(ValueError):
    """A request the engine cannot interpret; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
