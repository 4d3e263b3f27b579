"""Shrinking effect estimates across experiments, so winners' lifts are not taken at face value.

Pure Python (no Django): estimates and their standard errors in, shrunk estimates out. The
lift a winner shows is inflated by selection (it won partly because its noise was favourable);
pooling all experiments' estimates pulls each one toward what experiments typically achieve,
the more so the noisier it is.

* ``empirical_bayes``: normal–normal model y_i ~ N(θ_i, s_i²), θ_i ~ N(μ, τ²); τ² by the
  method of moments (DerSimonian & Laird, 1986, eq. 8), μ the mean weighted by 1/(s_i² + τ²),
  posterior means θ̂_i = B_i·μ + (1 − B_i)·y_i with B_i = s_i² / (s_i² + τ²).
* ``james_stein``: positive-part James–Stein toward the grand mean (Efron & Morris, 1973,
  eq. 1.4), θ̂_i = ȳ + (1 − (k − 3)·σ² / S)₊ (y_i − ȳ), S = Σ(y_i − ȳ)², σ² the mean s_i².

Too few experiments give a result with ``method="none"`` and a message, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Method = Literal["empirical_bayes", "james_stein", "none"]
MIN_EXPERIMENTS_EB = 3
MIN_EXPERIMENTS_JS = 4  # shrinking toward an estimated mean needs k > 3

METHOD_NAMES = {
    "empirical_bayes": "Empirical Bayes, normal–normal, method-of-moments τ² (DerSimonian–Laird)",
    "james_stein": "Positive-part James–Stein toward the grand mean",
    "none": "No shrinkage",
}
TOO_FEW = "Only {k} experiment(s) with an estimate and standard error; shrinkage needs {n}."
BAD_STANDARD_ERROR = "Every standard error must be a positive, finite number."
LENGTH_MISMATCH = "Estimates and standard errors differ in length."
OK = "ok"


@dataclass(frozen=True)
class Shrinkage:
    """Shrunk estimates in the input order; equal to the raw ones when ``method == "none"``."""

    method: Method
    raw: tuple[float, ...]
    shrunk: tuple[float, ...]
    prior_mean: float | None
    tau2: float | None  # between-experiment variance (empirical Bayes only)
    shrink_factors: tuple[float, ...]  # weight on the prior mean, 0 (none) … 1 (all)
    message: str = OK

    @property
    def method_name(self) -> str:
        return METHOD_NAMES[self.method]


def _unshrunk(raw: Sequence[float], message: str) -> Shrinkage:
    raw = tuple(float(y) for y in raw)
    return Shrinkage("none", raw, raw, None, None, tuple(0.0 for _ in raw), message)


def _check(estimates: Sequence[float], standard_errors: Sequence[float], minimum: int) -> str:
    if len(estimates) != len(standard_errors):
        return LENGTH_MISMATCH
    if any(not (math.isfinite(s) and s > 0) for s in standard_errors) or any(
        not math.isfinite(y) for y in estimates
    ):
        return BAD_STANDARD_ERROR
    if len(estimates) < minimum:
        return TOO_FEW.format(k=len(estimates), n=minimum)
    return OK


def empirical_bayes(
    estimates: Sequence[float],
    standard_errors: Sequence[float],
    *,
    min_experiments: int = MIN_EXPERIMENTS_EB,
) -> Shrinkage:
    """Return normal–normal empirical-Bayes posterior means (see the module docstring)."""
    problem = _check(estimates, standard_errors, max(min_experiments, 2))
    if problem != OK:
        return _unshrunk(estimates, problem)
    y = [float(v) for v in estimates]
    v = [float(s) ** 2 for s in standard_errors]
    k = len(y)
    w = [1 / vi for vi in v]
    sum_w = sum(w)
    y_fixed = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum_w
    q = sum(wi * (yi - y_fixed) ** 2 for wi, yi in zip(w, y, strict=True))
    denominator = sum_w - sum(wi**2 for wi in w) / sum_w
    tau2 = max(0.0, (q - (k - 1)) / denominator) if denominator > 0 else 0.0
    w_star = [1 / (vi + tau2) for vi in v]
    mu = sum(wi * yi for wi, yi in zip(w_star, y, strict=True)) / sum(w_star)
    factors = tuple(vi / (vi + tau2) for vi in v)
    shrunk = tuple(b * mu + (1 - b) * yi for b, yi in zip(factors, y, strict=True))
    return Shrinkage("empirical_bayes", tuple(y), shrunk, mu, tau2, factors)


def james_stein(
    estimates: Sequence[float],
    standard_errors: Sequence[float],
    *,
    min_experiments: int = MIN_EXPERIMENTS_JS,
) -> Shrinkage:
    """Return positive-part James–Stein estimates toward the grand mean (module docstring).

    With unequal standard errors σ² is their mean square, the usual approximation.
    """
    problem = _check(estimates, standard_errors, max(min_experiments, MIN_EXPERIMENTS_JS))
    if problem != OK:
        return _unshrunk(estimates, problem)
    y = [float(v) for v in estimates]
    k = len(y)
    mean = sum(y) / k
    sigma2 = sum(float(s) ** 2 for s in standard_errors) / k
    spread = sum((yi - mean) ** 2 for yi in y)
    factor = min(1.0, (k - 3) * sigma2 / spread) if spread > 0 else 1.0
    shrunk = tuple(mean + (1 - factor) * (yi - mean) for yi in y)
    return Shrinkage("james_stein", tuple(y), shrunk, mean, None, tuple(factor for _ in y))


def shrink(
    estimates: Sequence[float], standard_errors: Sequence[float], *, method: Method
) -> Shrinkage:
    if method == "james_stein":
        return james_stein(estimates, standard_errors)
    if method == "empirical_bayes":
        return empirical_bayes(estimates, standard_errors)
    return _unshrunk(estimates, "Shrinkage not requested.")


def normal_posterior(
    estimate: float, standard_error: float, prior_mean: float, prior_variance: float
) -> tuple[float, float]:
    """Return the posterior mean and standard deviation of θ for y ~ N(θ, s²), θ ~ N(μ, τ²).

    B = s² / (s² + τ²); mean B·μ + (1 − B)·y; variance (1 − B)·s² = s²τ² / (s² + τ²) (the
    normal–normal model of ``empirical_bayes``, for one new estimate given a fitted prior).
    """
    s2 = standard_error * standard_error
    total = s2 + prior_variance
    if total <= 0:
        return estimate, 0.0
    weight = s2 / total
    return weight * prior_mean + (1 - weight) * estimate, math.sqrt(s2 * prior_variance / total)
