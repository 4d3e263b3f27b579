"""CUPED against an independent reference with gbstats' conventions.

gbstats (``gbstats/models/statistics.py``: ``compute_theta``, ``RegressionAdjustedStatistic``,
``compute_covariance``) fits θ for each comparison on the control and that one variant only;
the per-arm variance and covariance divide by n − 1 for means and by n for proportions. Our
engine pools θ over every variant of the row. The reference below is written from unit-level
data with numpy, not from our sums, so it checks both the conventions and our sums algebra:

- two arms (means and proportions): identical to rounding;
- three or more arms: θ differs, and the size of the difference is measured here and quoted
  in docs/statistics.md ("CUPED").
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.stats import AnalysisSettings, SufficientStatistics, analyze_batch

ABSOLUTE = AnalysisSettings(difference="absolute")


def _units(rng, arms: int, n: int, rho: float, effects, binary: bool):
    """Per-unit (x, z) for each arm: x correlated rho with the pre-period z."""
    z = rng.standard_normal((arms, n))
    x = rho * z + np.sqrt(1 - rho**2) * rng.standard_normal((arms, n))
    x = x + np.asarray(effects, float)[:, None]
    if binary:  # a conversion now and a conversion before, correlated through the latent scores
        return (x > 0.8).astype(float), (z > 0.8).astype(float)
    return x, z


def gbstats_reference(x_a, z_a, x_b, z_b, *, binary: bool) -> tuple[float, float]:
    """(absolute CUPED effect, its standard error) for control a vs variant b, as gbstats.

    θ from the two arms' units only; divisor n − 1 for means, n for proportions.
    """
    ddof = 0 if binary else 1
    x, z = np.concatenate([x_a, x_b]), np.concatenate([z_a, z_b])
    var_z = np.var(z, ddof=ddof)
    theta = np.cov(x, z, ddof=ddof)[0, 1] / var_z if var_z > 0 and np.var(x) > 0 else 0.0

    def arm(xs, zs):
        adjusted = xs - theta * zs
        return adjusted.mean(), np.var(adjusted, ddof=ddof) / len(xs)

    mean_a, v_a = arm(x_a, z_a)
    mean_b, v_b = arm(x_b, z_b)
    return mean_b - mean_a, float(np.sqrt(v_a + v_b))


def _sums(x, z) -> SufficientStatistics:
    return SufficientStatistics(
        n=np.full(x.shape[:-1], x.shape[-1], dtype=float),
        sum=x.sum(-1),
        sum_squares=(x**2).sum(-1),
        covariate_sum=z.sum(-1),
        covariate_sum_squares=(z**2).sum(-1),
        covariate_sum_product=(x * z).sum(-1),
    )


def _ours(x, z, binary: bool):
    result = analyze_batch(
        _sums(x, z), metric_type="proportion" if binary else "mean", settings=ABSOLUTE
    )
    return result.effect, result.standard_error


@pytest.mark.parametrize("binary", [False, True], ids=["mean", "proportion"])
def test_two_arms_match_gbstats_conventions_exactly(binary):
    rng = np.random.default_rng(7)
    x, z = _units(rng, 2, 4000, 0.7, [0.0, 0.05], binary)
    effect, se = _ours(x, z, binary)
    ref_effect, ref_se = gbstats_reference(x[0], z[0], x[1], z[1], binary=binary)
    assert effect[0] == pytest.approx(ref_effect, rel=1e-10, abs=1e-14)
    assert se[0] == pytest.approx(ref_se, rel=1e-10)


def cuped_difference_from_gbstats(
    *, binary: bool, experiments: int = 400, n: int = 1000, rho: float = 0.7, seed: int = 11
) -> dict[str, float]:
    """Three arms (control, a null variant, one with +0.1 sd): how far pooled θ moves the
    effect (in standard errors) and the standard error (relative) from gbstats' pairwise θ."""
    rng = np.random.default_rng(seed)
    shifts, ratios = [], []
    for _ in range(experiments):
        x, z = _units(rng, 3, n, rho, [0.0, 0.0, 0.1], binary)
        effect, se = _ours(x, z, binary)
        for arm in (1, 2):
            ref_effect, ref_se = gbstats_reference(x[0], z[0], x[arm], z[arm], binary=binary)
            shifts.append(abs(effect[arm - 1] - ref_effect) / ref_se)
            ratios.append(abs(se[arm - 1] / ref_se - 1))
    return {
        "effect shift, mean (SE)": float(np.mean(shifts)),
        "effect shift, max (SE)": float(np.max(shifts)),
        "SE difference, max (relative)": float(np.max(ratios)),
    }


@pytest.mark.parametrize("binary", [False, True], ids=["mean", "proportion"])
def test_three_arms_differ_from_gbstats_by_a_small_measured_amount(binary):
    figures = cuped_difference_from_gbstats(binary=binary)
    # Quoted in docs/statistics.md (CUPED), at 1,000 units per arm and rho = 0.7: the effect
    # moves by about 0.01 standard errors on average (at most ~0.1) and the standard error by
    # at most ~0.15%. Not zero: the third arm's units change θ.
    assert 0.001 < figures["effect shift, mean (SE)"] < 0.02
    assert figures["effect shift, max (SE)"] < 0.15
    assert figures["SE difference, max (relative)"] < 3e-3


def test_proportion_with_a_count_covariate_divides_by_n_a_1_over_n_difference():
    """A conversion metric with a non-binary covariate (e.g. pre-period sessions): gbstats
    refuses mixed types; we divide the covariate terms by n like the metric's p(1 − p). The
    n − 1 convention for those terms changes the standard error by less than 1/n."""
    rng = np.random.default_rng(5)
    n = 1000
    sessions = rng.poisson(3.0, size=(2, n)).astype(float)
    converted = (rng.random((2, n)) < 0.05 + 0.03 * np.minimum(sessions, 6)).astype(float)
    _, se = _ours(converted, sessions, binary=True)
    x, z = np.concatenate(converted), np.concatenate(sessions)
    theta = np.cov(x, z, ddof=1)[0, 1] / np.var(z, ddof=1)
    variances = []
    for arm in range(2):
        xs, zs = converted[arm], sessions[arm]
        p = xs.mean()
        v = p * (1 - p) + theta**2 * np.var(zs, ddof=1) - 2 * theta * np.cov(xs, zs, ddof=1)[0, 1]
        variances.append(v / n)
    reference = np.sqrt(sum(variances))
    assert se[0] != pytest.approx(reference, rel=1e-9)
    assert abs(se[0] / reference - 1) < 1 / n


if __name__ == "__main__":  # the figures docs/statistics.md quotes
    for kind in (False, True):
        print("proportion" if kind else "mean", cuped_difference_from_gbstats(binary=kind))
