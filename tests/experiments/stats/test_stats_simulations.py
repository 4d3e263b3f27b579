"""Seeded simulations: false positives, coverage, peeking, power and CUPED behave as claimed.

Experiments are simulated at the sufficient-statistics level (binomial counts, or raw draws
reduced to sums in numpy), thousands at a time in one vectorised call. Print every figure with
``.venv/bin/python -m tests.experiments.stats.test_stats_simulations`` (docs/statistics.md).
"""

import numpy as np
import pytest

from experiments.stats import (
    AnalysisSettings,
    PowerRequest,
    SufficientStatistics,
    analyze_batch,
    plan,
)

SEED = 20240601
ALPHA = 0.05


def _rng(offset):
    return np.random.default_rng(SEED + offset)


def _proportions(rng, n, rates, experiments):
    """Counts for `experiments` experiments with n units per arm and the given true rates."""
    counts = rng.binomial(n, rates, size=(experiments, len(rates))).astype(float)
    return SufficientStatistics(n=np.full(counts.shape, float(n)), sum=counts, sum_squares=counts)


CHUNK = 2500  # experiments drawn at once, to keep raw draws under ~100 MB


def _in_chunks(draw, experiments):
    """Concatenate the sums of `draw(k)` over chunks of at most CHUNK experiments."""
    parts = [draw(min(CHUNK, experiments - start)) for start in range(0, experiments, CHUNK)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _exponential_means(rng, n, means, experiments):
    """Sums of skewed (exponential) per-unit values: shape (experiments, arms)."""

    def draw(k):
        x = rng.exponential(np.array(means)[None, :, None], size=(k, len(means), n))
        return {"sum": x.sum(-1), "sum_squares": (x**2).sum(-1)}

    sums = _in_chunks(draw, experiments)
    return SufficientStatistics(n=np.full(sums["sum"].shape, float(n)), **sums)


def _ratio_units(rng, n, click_rates, experiments):
    """Sessions y ~ 1 + Poisson(2) per user and clicks x ~ Binomial(y, rate): clicks/session."""

    def draw(k):
        y = 1.0 + rng.poisson(2.0, size=(k, len(click_rates), n))
        x = rng.binomial(y.astype(int), np.array(click_rates)[None, :, None]).astype(float)
        return {
            "sum": x.sum(-1),
            "sum_squares": (x**2).sum(-1),
            "denominator_sum": y.sum(-1),
            "denominator_sum_squares": (y**2).sum(-1),
            "sum_product": (x * y).sum(-1),
        }

    sums = _in_chunks(draw, experiments)
    return SufficientStatistics(n=np.full(sums["sum"].shape, float(n)), **sums)


def _correlated_with_covariate(rng, n, lifts, rho, experiments):
    """Metric x = 5 + lift + ρz + √(1 − ρ²)ε with a pre-period covariate z; Corr(x, z) = ρ."""

    def draw(k):
        z = rng.standard_normal((k, len(lifts), n))
        noise = rng.standard_normal((k, len(lifts), n))
        x = 5.0 + np.array(lifts)[None, :, None] + rho * z + np.sqrt(1 - rho**2) * noise
        return {
            "sum": x.sum(-1),
            "sum_squares": (x**2).sum(-1),
            "covariate_sum": z.sum(-1),
            "covariate_sum_squares": (z**2).sum(-1),
            "covariate_sum_product": (x * z).sum(-1),
        }

    sums = _in_chunks(draw, experiments)
    return SufficientStatistics(n=np.full(sums["sum"].shape, float(n)), **sums)


def aa_false_positive_rates():
    """Share of A/A experiments called significant at α = 0.05, per metric type and scale."""
    datasets = {
        "proportion": (_proportions(_rng(1), 5000, [0.1, 0.1], 20000), "proportion"),
        "mean": (_exponential_means(_rng(2), 400, [1.0, 1.0], 20000), "mean"),
        "ratio": (_ratio_units(_rng(3), 300, [0.3, 0.3], 20000), "ratio"),
        "cuped": (_correlated_with_covariate(_rng(4), 300, [0, 0], 0.7, 20000), "mean"),
    }
    rates = {}
    for name, (stats, metric_type) in datasets.items():
        for difference in ("absolute", "relative"):
            settings = AnalysisSettings(difference=difference)
            result = analyze_batch(stats, metric_type=metric_type, settings=settings)
            rates[f"{name}/{difference}"] = float(np.mean(result.p_value < ALPHA))
    stats, _ = datasets["proportion"]
    bayes = analyze_batch(
        stats, metric_type="proportion", settings=AnalysisSettings(engine="bayesian")
    )
    extreme = (bayes.chance_to_win > 1 - ALPHA / 2) | (bayes.chance_to_win < ALPHA / 2)
    rates["bayesian chance to win outside [2.5%, 97.5%]"] = float(np.mean(extreme))
    return rates


def interval_coverages():
    """Share of 95% intervals that contain a planted effect."""
    cases = {
        "mean +5%": (_exponential_means(_rng(5), 500, [1.0, 1.05], 20000), "mean", 0.05, 0.05),
        "proportion +10%": (
            _proportions(_rng(6), 3000, [0.1, 0.11], 20000),
            "proportion",
            0.01,
            0.1,
        ),
        "ratio +10%": (_ratio_units(_rng(7), 300, [0.3, 0.33], 20000), "ratio", 0.03, 0.1),
        "cuped +0.05": (
            _correlated_with_covariate(_rng(8), 300, [0, 0.05], 0.7, 20000),
            "mean",
            0.05,
            0.01,
        ),
    }
    coverages = {}
    for name, (stats, metric_type, absolute, relative) in cases.items():
        for difference, truth in (("absolute", absolute), ("relative", relative)):
            settings = AnalysisSettings(difference=difference)
            result = analyze_batch(stats, metric_type=metric_type, settings=settings)
            covered = (result.ci_low < truth) & (truth < result.ci_high)
            coverages[f"{name}/{difference}"] = float(np.mean(covered))
    return coverages


def peeking_false_positive_rates(days=14, daily_units=300, experiments=10000):
    """A/A experiments looked at every day: stop at the first p < α."""
    rng = _rng(9)
    daily = rng.binomial(daily_units, 0.1, size=(experiments, days, 2))
    counts = daily.cumsum(axis=1).astype(float)
    units = np.broadcast_to(
        (np.arange(1, days + 1) * daily_units)[None, :, None], counts.shape
    ).astype(float)
    stats = SufficientStatistics(n=units, sum=counts, sum_squares=counts)
    tuning = 2 * days * daily_units  # the expected final size of the comparison
    rates = {}
    for label, settings in (
        ("fixed-horizon, final look only", AnalysisSettings(difference="absolute")),
        ("fixed-horizon, daily peeking", AnalysisSettings(difference="absolute")),
        (
            "sequential, daily peeking",
            AnalysisSettings(difference="absolute", sequential=True, sequential_tuning=tuning),
        ),
        (
            "sequential relative, daily peeking",
            AnalysisSettings(difference="relative", sequential=True, sequential_tuning=tuning),
        ),
    ):
        result = analyze_batch(stats, metric_type="proportion", settings=settings)
        p = result.p_value[..., 0]
        rejected = p[:, -1] < ALPHA if "final" in label else np.any(p < ALPHA, axis=1)
        rates[label] = float(np.mean(rejected))
        if settings.sequential:  # the always-valid intervals, read on their own
            excludes_zero = (result.ci_low[..., 0] > 0) | (result.ci_high[..., 0] < 0)
            rates[f"{label} (interval excludes 0)"] = float(np.mean(excludes_zero.any(axis=1)))
    return rates


def achieved_powers(experiments=10000):
    """Share of experiments, simulated at the planned size and the planned effect, that win."""
    powers = {}
    rng = _rng(10)
    fixed = plan(PowerRequest(baseline_rate=0.1, mde=0.1))
    stats = _proportions(rng, fixed.sample_size_per_variant, [0.1, 0.11], experiments)
    result = analyze_batch(stats, metric_type="proportion")
    powers["rate 10%, +10% relative, fixed"] = float(np.mean(result.p_value < ALPHA))

    means = plan(PowerRequest(baseline_mean=10, baseline_variance=4, mde=0.1, mde_type="absolute"))
    n = means.sample_size_per_variant
    sample_means = rng.normal([10.0, 10.1], 2.0 / np.sqrt(n), size=(experiments, 2))
    sample_vars = 4.0 * rng.chisquare(n - 1, size=(experiments, 2)) / (n - 1)
    stats = SufficientStatistics(
        n=np.full((experiments, 2), float(n)),
        sum=n * sample_means,
        sum_squares=(n - 1) * sample_vars + n * sample_means**2,
    )
    result = analyze_batch(stats, settings=AnalysisSettings(difference="absolute"))
    powers["mean 10 (var 4), +0.1 absolute, fixed"] = float(np.mean(result.p_value < ALPHA))

    sequential = plan(PowerRequest(baseline_rate=0.1, mde=0.1, sequential=True))
    stats = _proportions(rng, sequential.sample_size_per_variant, [0.1, 0.11], experiments)
    settings = AnalysisSettings(sequential=True, sequential_tuning=sequential.sequential_tuning)
    result = analyze_batch(stats, metric_type="proportion", settings=settings)
    powers["rate 10%, +10% relative, sequential (final look)"] = float(
        np.mean(result.p_value < ALPHA)
    )
    return powers


def textbook_size_powers(experiments=40000):
    """Power of the relative-lift test at the textbook sizes for +10% on a 10% rate."""
    rng = _rng(13)
    sizes = {
        "n = (z + z)^2 2p(1-p)/d^2 = 14,128": 14128,
        "statsmodels NormalIndPower, unpooled = 14,748": 14748,
        "our plan = 15,337": plan(PowerRequest(baseline_rate=0.1, mde=0.1)).sample_size_per_variant,
    }
    powers = {}
    for name, n in sizes.items():
        stats = _proportions(rng, n, [0.1, 0.11], experiments)
        result = analyze_batch(stats, metric_type="proportion")
        powers[name] = float(np.mean(result.p_value < ALPHA))
    return powers


def cuped_variance_ratios(rho=0.7, experiments=4000):
    """Reported Var(CUPED)/Var(plain) and the empirical ratio over simulated experiments."""
    stats = _correlated_with_covariate(_rng(11), 1000, [0, 0.05], rho, experiments)
    settings = AnalysisSettings(difference="absolute")
    adjusted = analyze_batch(stats, settings=settings)
    plain = analyze_batch(stats, settings=AnalysisSettings(difference="absolute", cuped=False))
    return {
        "reported variance ratio (mean)": float(1 - adjusted.variance_reduction.mean()),
        "empirical variance ratio": float(adjusted.effect.var() / plain.effect.var()),
        "theta (mean)": float(adjusted.theta.mean()),
        "1 - rho^2": 1 - rho**2,
    }


def multiplicity_error_rates(experiments=1000, metrics=10):
    """Share of A/A experiments with at least one win among ten null metrics, per correction."""
    counts = _rng(12).binomial(2000, 0.2, size=(experiments, metrics, 2)).astype(float)
    wins = {"none": 0, "holm": 0, "bh": 0}
    for row in counts:  # one experiment = one family
        stats = SufficientStatistics(n=np.full(row.shape, 2000.0), sum=row, sum_squares=row)
        for correction in wins:
            settings = AnalysisSettings(correction=correction, difference="absolute")
            p = analyze_batch(stats, metric_type="proportion", settings=settings).p_value
            wins[correction] += bool(np.any(p < ALPHA))
    return {name: count / experiments for name, count in wins.items()}


@pytest.fixture(scope="module")
def aa_rates():
    return aa_false_positive_rates()


@pytest.mark.parametrize(
    "name",
    [
        "proportion/absolute",
        "proportion/relative",
        "mean/absolute",
        "mean/relative",
        "ratio/absolute",
        "ratio/relative",
        "cuped/absolute",
        "cuped/relative",
        "bayesian chance to win outside [2.5%, 97.5%]",
    ],
)
def test_aa_false_positive_rate_is_alpha(aa_rates, name):
    assert 0.04 <= aa_rates[name] <= 0.06


@pytest.fixture(scope="module")
def coverages():
    return interval_coverages()


@pytest.mark.parametrize(
    "name",
    [
        "mean +5%/absolute",
        "mean +5%/relative",
        "proportion +10%/absolute",
        "proportion +10%/relative",
        "ratio +10%/absolute",
        "ratio +10%/relative",
        "cuped +0.05/absolute",
        "cuped +0.05/relative",
    ],
)
def test_95_percent_intervals_cover_a_planted_effect_95_percent_of_the_time(coverages, name):
    assert 0.94 <= coverages[name] <= 0.96


def test_daily_peeking_inflates_fixed_horizon_errors_but_not_sequential_ones():
    rates = peeking_false_positive_rates()
    assert 0.04 <= rates["fixed-horizon, final look only"] <= 0.06
    assert rates["fixed-horizon, daily peeking"] > 2 * ALPHA
    for label in ("sequential, daily peeking", "sequential relative, daily peeking"):
        assert rates[label] <= ALPHA
        assert rates[f"{label} (interval excludes 0)"] == rates[label]


def test_achieved_power_is_within_three_points_of_the_plan():
    for name, power in achieved_powers().items():
        assert abs(power - 0.8) <= 0.03, name


def test_textbook_sample_size_underpowers_the_relative_test_our_plan_does_not():
    powers = textbook_size_powers()
    textbook, statsmodels, ours = powers.values()
    assert textbook < 0.775  # ~0.76: the control's variance in both arms, absolute test
    assert statsmodels < 0.79  # ~0.78: right for the absolute test, short for the relative one
    assert abs(ours - 0.8) <= 0.01


def test_cuped_reduces_variance_to_one_minus_rho_squared():
    figures = cuped_variance_ratios(rho=0.7)
    assert figures["reported variance ratio (mean)"] == pytest.approx(0.51, abs=0.01)
    assert figures["empirical variance ratio"] == pytest.approx(0.51, abs=0.03)
    assert figures["theta (mean)"] == pytest.approx(0.7, abs=0.01)


def test_holm_and_bh_control_their_error_rates_across_ten_null_metrics():
    rates = multiplicity_error_rates()
    assert rates["none"] > 0.3
    # Under the global null, FDR equals the family-wise error rate.
    assert rates["holm"] <= 0.06
    assert rates["bh"] <= 0.06


def main():
    """Print every simulated figure (the numbers quoted in docs/statistics.md)."""
    sections = {
        "A/A false-positive rate at alpha 0.05": aa_false_positive_rates(),
        "95% interval coverage of a planted effect": interval_coverages(),
        "Daily peeking for 14 days (A/A false-positive rate)": peeking_false_positive_rates(),
        "Achieved power at the planned size (target 0.80)": achieved_powers(),
        "Relative-test power at textbook sizes (+10% on 10%)": textbook_size_powers(),
        "CUPED with rho = 0.7": cuped_variance_ratios(),
        "Ten null metrics: share of experiments with a false win": multiplicity_error_rates(),
    }
    print(f"seed: {SEED}")
    for title, figures in sections.items():
        print(f"\n{title}")
        for name, value in figures.items():
            print(f"  {name}: {value:.4f}")


if __name__ == "__main__":
    main()
