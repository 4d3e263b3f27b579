"""GrowthBook gbstats' published test vectors (packages/stats/tests), rounded to 5 decimals.

Each vector below is copied from gbstats' own test suite (frequentist/test_tests.py,
bayesian/test_tests.py); PostHog's port supplies the ratio-metric vector.
"""

import numpy as np
import pytest

from experiments.stats import AnalysisSettings, GaussianPrior, SufficientStatistics, analyze_batch
from experiments.stats.sequential import halfwidth_multiplier, sequential_rho

DECIMALS = 5


def rounded(values):
    return [round(float(v), DECIMALS) for v in np.ravel(values)]


MEANS_3407 = SufficientStatistics(
    n=[3407, 3461], sum=[1396.87, 2422.7], sum_squares=[52377.9767, 134698.29]
)
MEANS_3000 = SufficientStatistics(
    n=[3000, 3461], sum=[1396.87, 2422.7], sum_squares=[52377.9767, 134698.29]
)


def test_relative_welch_matches_gbstats_two_sided_ttest():
    result = analyze_batch(MEANS_3407, settings=AnalysisSettings(difference="relative"))
    assert rounded(result.effect) == [0.70732]
    assert rounded([result.ci_low, result.ci_high]) == [-0.03526, 1.44989]
    assert rounded(result.p_value) == [0.06191]
    assert rounded(result.standard_error) == [0.37879]


def test_absolute_welch_matches_gbstats_two_sided_ttest():
    result = analyze_batch(MEANS_3407, settings=AnalysisSettings(difference="absolute"))
    assert rounded(result.effect) == [0.29]
    assert rounded([result.ci_low, result.ci_high]) == [0.04538, 0.53462]
    assert rounded(result.p_value) == [0.02016]
    assert rounded(result.standard_error) == [0.12478]


def test_relative_proportion_welch_matches_gbstats_binomial_vector():
    stats = SufficientStatistics(n=[28, 30], sum=[14, 16], sum_squares=[14, 16])
    result = analyze_batch(stats, metric_type="proportion")
    assert rounded(result.effect) == [0.06667]
    assert rounded([result.ci_low, result.ci_high]) == [-0.47767, 0.61101]
    assert rounded(result.p_value) == [0.80707]
    assert rounded(result.standard_error) == [0.2717]


@pytest.mark.parametrize(
    ("alternative", "difference", "bound", "p_value"),
    [
        ("greater", "relative", -0.045136675850396046, 0.06558262868467746),
        ("greater", "absolute", 0.020791480063255735, 0.03554272489873023),
        ("less", "relative", 1.0518588475628676, 0.9344173713153225),
        ("less", "absolute", 0.44796185327007765, 0.9644572751012698),
    ],
)
def test_one_sided_welch_matches_gbstats(alternative, difference, bound, p_value):
    settings = AnalysisSettings(difference=difference, alternative=alternative)
    result = analyze_batch(MEANS_3000, settings=settings)
    finite_bound = result.ci_low if alternative == "greater" else result.ci_high
    infinite_bound = result.ci_high if alternative == "greater" else result.ci_low
    assert rounded(finite_bound) == rounded(bound)
    assert np.isinf(infinite_bound[0])
    assert rounded(result.p_value) == rounded(p_value)


def test_sequential_means_match_gbstats_with_tuning_1000():
    settings = AnalysisSettings(sequential=True, sequential_tuning=1000)
    result = analyze_batch(MEANS_3000, settings=settings)
    assert rounded(result.effect) == [0.50336]
    assert rounded([result.ci_low, result.ci_high]) == [-0.55844, 1.56516]
    assert rounded(result.p_value) == [1.0]
    assert rounded(result.standard_error) == [0.33341]


def test_sequential_proportions_match_gbstats_with_default_tuning():
    stats = SufficientStatistics(n=[3000, 3461], sum=[1396, 2422], sum_squares=[1396, 2422])
    result = analyze_batch(
        stats, metric_type="proportion", settings=AnalysisSettings(sequential=True)
    )
    assert rounded(result.effect) == [0.50386]
    assert rounded([result.ci_low, result.ci_high]) == [0.40098, 0.60675]
    assert rounded(result.p_value) == [0.0]
    assert rounded(result.standard_error) == [0.03386]


def test_sequential_cuped_matches_gbstats_regression_adjusted_vector():
    stats = SufficientStatistics(
        n=[3000, 3461],
        sum=[1396.87, 2422.7],
        sum_squares=[52377.9767, 134698.29],
        covariate_sum=[16.87, 22.7],
        covariate_sum_squares=[527.9767, 1348.29],
        covariate_sum_product=[1, 1],
    )
    result = analyze_batch(stats, settings=AnalysisSettings(sequential=True))
    assert rounded(result.effect) == [0.50338]
    assert rounded([result.ci_low, result.ci_high]) == [-0.50969, 1.51646]
    assert rounded(result.p_value) == [1.0]
    assert rounded(result.standard_error) == [0.33341]


@pytest.mark.parametrize(
    ("alternative", "difference", "bound"),
    [
        ("greater", "relative", -0.42356454602790883),
        ("greater", "absolute", -0.12656844172804982),
        ("less", "relative", 1.4302867177403806),
        ("less", "absolute", 0.5953217750613832),
    ],
)
def test_one_sided_sequential_bounds_match_gbstats(alternative, difference, bound):
    settings = AnalysisSettings(difference=difference, alternative=alternative, sequential=True)
    result = analyze_batch(MEANS_3000, settings=settings)
    finite_bound = result.ci_low if alternative == "greater" else result.ci_high
    assert rounded(finite_bound) == rounded(bound)


def test_one_sided_sequential_p_value_is_the_exact_dual_of_the_bound():
    """gbstats finds this p-value by bisection on [1e-5, 0.4999] (0.46316 here); ours is the
    closed form, at which the one-sided bound sits exactly on zero."""
    settings = AnalysisSettings(difference="absolute", alternative="greater", sequential=True)
    result = analyze_batch(MEANS_3000, settings=settings)
    p = float(result.p_value[0])
    assert round(p, 3) == 0.463
    rho = sequential_rho(0.05, 5000, one_sided=True)
    multiplier = halfwidth_multiplier(6461, p, rho, one_sided=True)
    bound = result.effect[0] - multiplier * result.standard_error[0]
    assert bound == pytest.approx(0.0, abs=1e-12)


def test_ratio_metric_matches_gbstats_port_vector():
    stats = SufficientStatistics(
        n=[1966, 2034],
        sum=[94605.79858780127, 99673.9364269569],
        sum_squares=[10463129.505392816, 11298745.182728939],
        denominator_sum=[936, 947],
        denominator_sum_squares=[936, 947],
        sum_product=[94605.79858780127, 99673.9364269569],
    )
    result = analyze_batch(stats, metric_type="ratio")
    assert round(float(result.effect[0]), 4) == 0.0413
    assert round(float(result.ci_low[0]), 4) == 0.0138
    assert round(float(result.ci_high[0]), 4) == 0.0689
    assert round(float(result.p_value[0]), 5) == 0.00328


def test_bayesian_binomial_matches_gbstats_effect_test():
    stats = SufficientStatistics(n=[100, 100], sum=[49, 51], sum_squares=[49, 51])
    result = analyze_batch(
        stats, metric_type="proportion", settings=AnalysisSettings(engine="bayesian")
    )
    assert rounded(result.effect) == [0.04082]
    assert rounded([result.ci_low, result.ci_high]) == [-0.24779, 0.32943]
    assert rounded(result.standard_error) == [0.14725]
    assert rounded(result.chance_to_win) == [0.60918]
    assert rounded([result.risk_control, result.risk]) == [0.0814, 0.04058]
    assert result.p_value is None


GAUSSIAN = SufficientStatistics(n=[10, 10], sum=[100, 105], sum_squares=[1002.25, 1111.5])


def test_bayesian_gaussian_flat_prior_matches_gbstats():
    result = analyze_batch(GAUSSIAN, settings=AnalysisSettings(engine="bayesian"))
    assert rounded(result.effect) == [0.05]
    assert rounded([result.ci_low, result.ci_high]) == [-0.02, 0.12]
    assert rounded(result.standard_error) == [0.03572]
    assert rounded(result.chance_to_win) == [0.91923]
    assert rounded([result.risk_control, result.risk]) == [0.05131, 0.00131]


def test_bayesian_gaussian_informative_prior_matches_gbstats():
    prior = GaussianPrior(mean=0.1, variance=0.1, proper=True)
    result = analyze_batch(GAUSSIAN, settings=AnalysisSettings(engine="bayesian", prior=prior))
    assert rounded(result.effect) == [0.05063]
    assert rounded([result.ci_low, result.ci_high]) == [-0.01893, 0.12019]
    assert rounded(result.standard_error) == [0.03549]
    assert rounded(result.chance_to_win) == [0.92315]
    assert rounded([result.risk_control, result.risk]) == [0.05186, 0.00123]


def test_bayesian_risk_matches_monte_carlo_expected_loss():
    result = analyze_batch(GAUSSIAN, settings=AnalysisSettings(engine="bayesian"))
    mean, sd = float(result.effect[0]), float(result.standard_error[0])
    draws = np.random.default_rng(20240329).normal(mean, sd, size=2_000_000)
    assert float(result.risk[0]) == pytest.approx(np.mean(np.maximum(-draws, 0)), abs=2e-5)
    assert float(result.risk_control[0]) == pytest.approx(np.mean(np.maximum(draws, 0)), abs=2e-5)
    assert float(result.chance_to_win[0]) == pytest.approx(np.mean(draws > 0), abs=1e-3)
