"""Power and planning: sample size per variant, MDE for a size, duration, fixed or sequential.

Normal-approximation power of the two-sample Welch test (Kohavi, Tang & Xu 2020, ch. 17; Chow,
Shao & Wang 2008, §3.2): n = ((z_{1−α/2} + z_{1−β}·s) / τ)², τ the per-unit standardized effect
(p(1 − p) per arm for rates; the delta method for relative lifts) and s the statistic's spread
under the alternative. k treatment variants share α by Bonferroni (α/k per comparison).
Sequential designs replace z_{1−α/2} by the confidence-sequence half-width multiplier at the
planned size (derivation in docs/statistics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, special

from experiments.stats.messages import (
    BASELINE_ERROR,
    MDE_OR_SIZE_ERROR,
    MDE_VALUE_ERROR,
    POWER_RANGE_ERROR,
    SAMPLE_SIZE_ERROR,
    TOO_FEW_VARIANTS_ERROR,
    TRAFFIC_ERROR,
    TUNING_ERROR,
    StatsInputError,
)
from experiments.stats.sequential import halfwidth_multiplier, sequential_rho
from experiments.stats.settings import DEFAULT_ALPHA, Difference, check_alpha, check_option

Sidedness = Literal["two_sided", "one_sided"]
PlanStatus = Literal["ok", "unreachable"]

UNREACHABLE_MESSAGE = (
    "No effect small enough to keep the rate between 0% and 100% can be detected with this "
    "sample size at the requested power; collect more units."
)
_MAX_UNITS = 1e13  # search ceiling for the sequential root-finder (far beyond any real test)


@dataclass(frozen=True)
class Baseline:
    """The control's expected per-unit mean and variance (p and p(1 − p) for a rate)."""

    mean: float
    variance: float
    is_rate: bool

    def treatment_variance(self, delta: float) -> float:
        """Variance under the alternative: p'(1 − p') for rates, unchanged for means."""
        if self.is_rate:
            rate = self.mean + delta
            return rate * (1.0 - rate)
        return self.variance


def _per_unit_statistic(baseline: Baseline, a: float, b: float, difference: Difference) -> float:
    """τ(a, b): the Welch statistic divided by √n, for arm means a, b with n units per arm.

    Absolute: (b − a)/√(σ²_A + σ²_B); relative (delta method): (b − a)/√(σ²_B + (b/a)²σ²_A).
    Rates plug the means into p(1 − p), exactly as the analysis does.
    """
    var_a = a * (1.0 - a) if baseline.is_rate else baseline.variance
    var_b = b * (1.0 - b) if baseline.is_rate else baseline.variance
    if difference == "absolute":
        return (b - a) / math.sqrt(var_a + var_b)
    return abs((b - a) / math.sqrt(var_b + (b / a) ** 2 * var_a))


def signal_and_spread(
    baseline: Baseline, delta: float, difference: Difference
) -> tuple[float, float]:
    """(τ, s): the test statistic is ≈ N(√n·τ, s²) when the treatment mean is baseline + δ.

    s is the delta-method standard deviation of the statistic itself under the alternative
    (Casella & Berger 2002, §5.5.4): 1 for absolute lifts on means, but below 1 for relative
    lifts, whose estimated standard error moves with the control mean. Ignoring s would plan
    ~6% too many units for a 10% relative lift on a 10% rate.
    """
    a, b = baseline.mean, baseline.mean + delta
    tau = _per_unit_statistic(baseline, a, b, difference)
    step = 1e-6 * max(abs(a), abs(b), math.sqrt(baseline.variance))
    d_a = (
        _per_unit_statistic(baseline, a + step, b, difference)
        - _per_unit_statistic(baseline, a - step, b, difference)
    ) / (2 * step)
    d_b = (
        _per_unit_statistic(baseline, a, b + step, difference)
        - _per_unit_statistic(baseline, a, b - step, difference)
    ) / (2 * step)
    var_b = baseline.treatment_variance(delta)
    return tau, math.sqrt(d_a**2 * baseline.variance + d_b**2 * var_b)


def _z(alpha: float, two_sided: bool) -> float:
    return float(-special.ndtri(alpha / (2.0 if two_sided else 1.0)))


def normal_power(
    tau: float, n: float, alpha: float, *, two_sided: bool = True, spread: float = 1.0
) -> float:
    """Power at n per arm: Φ((√n·τ − z)/s), plus the opposite tail Φ((−√n·τ − z)/s) if two-sided.

    With s = 1 and τ = d/√2 (d = δ/σ) this is statsmodels' ``NormalIndPower.power``.
    """
    z = _z(alpha, two_sided)
    shift = math.sqrt(n) * abs(tau)
    power = special.ndtr((shift - z) / spread)
    return float(power + special.ndtr((-shift - z) / spread)) if two_sided else float(power)


def fixed_sample_size(
    tau: float, alpha: float, power: float, *, two_sided: bool = True, spread: float = 1.0
) -> float:
    """Units per arm (unrounded): n = ((z_{1−α/2} + z_{1−β}·s) / τ)²."""
    return float(((_z(alpha, two_sided) + special.ndtri(power) * spread) / tau) ** 2)


def sequential_multiplier(
    n_per_arm: float, alpha: float, tuning: float | None, *, two_sided: bool = True
) -> float:
    """CS half-width in SEs at N = 2n; with no tuning given, N* = N (the design's own size)."""
    n_total = 2.0 * n_per_arm
    rho = sequential_rho(alpha, tuning or n_total, one_sided=not two_sided)
    return float(halfwidth_multiplier(n_total, alpha, rho, one_sided=not two_sided))


def sequential_sample_size(
    tau: float,
    alpha: float,
    power: float,
    tuning: float | None,
    *,
    two_sided: bool = True,
    spread: float = 1.0,
) -> float:
    """Smallest n per arm with √n·τ = c(2n) + z_{1−β}·s: power at the last look, ignoring
    the chance of stopping earlier (so conservative for designs that stop at the first win)."""
    z_beta = float(special.ndtri(power))

    def shortfall(n: float) -> float:
        needed = sequential_multiplier(n, alpha, tuning, two_sided=two_sided) + z_beta * spread
        return float(n - (needed / tau) ** 2)

    low = max(fixed_sample_size(tau, alpha, power, two_sided=two_sided, spread=spread), 2.0)
    high = low * 4.0
    while shortfall(high) < 0:
        if high > _MAX_UNITS:
            return math.inf
        high *= 4.0
    return float(optimize.brentq(shortfall, low, high, xtol=1e-6, rtol=1e-12))


@dataclass(frozen=True)
class PowerRequest:
    """A plan: give ``mde`` for a sample size, or ``sample_size_per_variant`` for an MDE.

    ``baseline_rate`` for conversion-type metrics, or ``baseline_mean`` and
    ``baseline_variance`` (per unit) for means. ``mde`` is relative (0.05 = 5 %) or absolute.
    ``n_variants`` counts the control. ``daily_traffic`` is units per day entering the whole
    experiment, split equally between variants.
    """

    baseline_rate: float | None = None
    baseline_mean: float | None = None
    baseline_variance: float | None = None
    mde: float | None = None
    mde_type: Difference = "relative"
    sample_size_per_variant: float | None = None
    alpha: float = DEFAULT_ALPHA
    power: float = 0.8
    n_variants: int = 2
    alternative: Sidedness = "two_sided"
    sequential: bool = False
    sequential_tuning: float | None = None
    daily_traffic: float | None = None

    def __post_init__(self) -> None:
        check_alpha("alpha", self.alpha)
        check_option("mde_type", self.mde_type, Difference)
        check_option("alternative", self.alternative, Sidedness)
        if not 0.0 < self.power < 1.0:
            raise StatsInputError("power", POWER_RANGE_ERROR)
        if self.n_variants < 2:
            raise StatsInputError("n_variants", TOO_FEW_VARIANTS_ERROR)
        if (self.mde is None) == (self.sample_size_per_variant is None):
            raise StatsInputError("mde", MDE_OR_SIZE_ERROR)
        if self.mde is not None and not (math.isfinite(self.mde) and self.mde > 0):
            raise StatsInputError("mde", MDE_VALUE_ERROR)
        size = self.sample_size_per_variant
        if size is not None and not (math.isfinite(size) and size >= 2):
            raise StatsInputError("sample_size_per_variant", SAMPLE_SIZE_ERROR)
        traffic = self.daily_traffic
        if traffic is not None and not (math.isfinite(traffic) and traffic > 0):
            raise StatsInputError("daily_traffic", TRAFFIC_ERROR)
        tuning = self.sequential_tuning
        if tuning is not None and not (math.isfinite(tuning) and tuning > 0):
            raise StatsInputError("sequential_tuning", TUNING_ERROR)
        self.baseline()

    def baseline(self) -> Baseline:
        """The validated baseline: a rate in (0, 1), or a mean with a positive variance."""
        rate, mean, variance = self.baseline_rate, self.baseline_mean, self.baseline_variance
        if rate is not None and mean is None and variance is None and 0.0 < rate < 1.0:
            return Baseline(mean=rate, variance=rate * (1.0 - rate), is_rate=True)
        if rate is None and mean is not None and variance is not None:
            if math.isfinite(mean) and math.isfinite(variance) and variance > 0:
                if mean != 0 or self.mde_type == "absolute":
                    return Baseline(mean=mean, variance=variance, is_rate=False)
        raise StatsInputError("baseline_rate", BASELINE_ERROR)


@dataclass(frozen=True)
class PowerResponse:
    """The plan. ``mde_*`` are the detectable effect in both scales; ``status`` is "ok" or
    "unreachable" (then sizes and MDE are None and ``message`` says why)."""

    sample_size_per_variant: int | None
    total_sample_size: int | None
    mde_absolute: float | None
    mde_relative: float | None
    duration_days: int | None
    alpha_per_comparison: float
    power: float
    sequential: bool
    sequential_tuning: float | None
    sequential_inflation: float | None
    fixed_sample_size_per_variant: int | None
    status: PlanStatus
    message: str


def _detectable_effect(
    baseline: Baseline, n: float, multiplier: float, power: float, difference: Difference
) -> float | None:
    """Smallest absolute increase δ with √n·τ(δ) = multiplier + z_{1−β}·s(δ)."""
    z_beta = float(special.ndtri(power))

    def gap(delta: float) -> float:
        tau, spread = signal_and_spread(baseline, delta, difference)
        return math.sqrt(n) * tau - (multiplier + z_beta * spread)

    if baseline.is_rate:
        high = (1.0 - baseline.mean) * (1.0 - 1e-9)
        if gap(high) < 0:
            return None
    else:
        high = math.sqrt(baseline.variance) * (multiplier + z_beta + 1.0)
        while gap(high) < 0:
            high *= 2.0
    low = high * 1e-12
    return float(optimize.brentq(gap, low, high, xtol=1e-15, rtol=1e-12))


def plan(request: PowerRequest) -> PowerResponse:
    """Sample size per variant for an MDE, or the MDE for a size; and the duration."""
    baseline = request.baseline()
    alpha = request.alpha / (request.n_variants - 1)  # Bonferroni across treatment variants
    two_sided = request.alternative == "two_sided"
    difference = request.mde_type
    tuning = request.sequential_tuning
    if request.mde is not None:
        delta = request.mde * (1.0 if difference == "absolute" else baseline.mean)
        if baseline.is_rate and not 0.0 < baseline.mean + delta < 1.0:
            raise StatsInputError("mde", MDE_VALUE_ERROR)
        tau, spread = signal_and_spread(baseline, delta, difference)
        n_fixed = fixed_sample_size(tau, alpha, request.power, two_sided=two_sided, spread=spread)
        n = n_fixed
        if request.sequential:
            n = sequential_sample_size(
                tau, alpha, request.power, tuning, two_sided=two_sided, spread=spread
            )
    else:
        assert request.sample_size_per_variant is not None
        n = request.sample_size_per_variant
        multiplier = _z(alpha, two_sided)
        if request.sequential:
            multiplier = sequential_multiplier(n, alpha, tuning, two_sided=two_sided)
        found = _detectable_effect(baseline, n, multiplier, request.power, difference)
        if found is None:
            return _unreachable(request, alpha)
        delta = found
        tau, spread = signal_and_spread(baseline, delta, difference)
        n_fixed = fixed_sample_size(tau, alpha, request.power, two_sided=two_sided, spread=spread)
    if not math.isfinite(n):
        return _unreachable(request, alpha)
    per_variant = math.ceil(n - 1e-9)
    total = per_variant * request.n_variants
    duration = None
    if request.daily_traffic is not None:
        duration = math.ceil(total / request.daily_traffic - 1e-9)
    return PowerResponse(
        sample_size_per_variant=per_variant,
        total_sample_size=total,
        mde_absolute=delta,
        mde_relative=delta / baseline.mean if baseline.mean != 0 else None,
        duration_days=duration,
        alpha_per_comparison=alpha,
        power=request.power,
        sequential=request.sequential,
        sequential_tuning=(tuning or 2.0 * per_variant) if request.sequential else None,
        sequential_inflation=n / n_fixed if request.sequential else None,
        fixed_sample_size_per_variant=math.ceil(n_fixed - 1e-9),
        status="ok",
        message="",
    )


def _unreachable(request: PowerRequest, alpha: float) -> PowerResponse:
    return PowerResponse(
        sample_size_per_variant=None,
        total_sample_size=None,
        mde_absolute=None,
        mde_relative=None,
        duration_days=None,
        alpha_per_comparison=alpha,
        power=request.power,
        sequential=request.sequential,
        sequential_tuning=request.sequential_tuning,
        sequential_inflation=None,
        fixed_sample_size_per_variant=None,
        status="unreachable",
        message=UNREACHABLE_MESSAGE,
    )
