"""Agreement with scipy and statsmodels wherever they implement the same method (to 1e-9)."""

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportions_ztest

from experiments.stats import (
    AnalysisSettings,
    SufficientStatistics,
    adjust_p_values,
    analyze_batch,
    analyze_guardrails,
    srm_test,
)
from experiments.stats.frequentist import two_proportion_z_test
from experiments.stats.power import fixed_sample_size, normal_power

RTOL = 1e-9

# (n_control, n_treatment, mean_control, mean_treatment, sd_control, sd_treatment, seed)
WELCH_CASES = [
    (3, 4, 0.0, 1.0, 1.0, 2.0, 1),
    (10, 25, 5.0, 5.5, 1.0, 3.0, 2),
    (50, 70, 0.0, 0.1, 1.0, 1.0, 3),
    (200, 180, 10.0, 10.3, 2.0, 0.5, 4),
    (1000, 1000, 100.0, 100.2, 15.0, 15.0, 5),
    (5000, 3000, -3.0, -2.9, 4.0, 6.0, 6),
    (40, 400, 1.0, 1.5, 0.2, 3.0, 7),
]


def _raw_samples(case):
    n_a, n_b, mu_a, mu_b, sd_a, sd_b, seed = case
    rng = np.random.default_rng(seed)
    return rng.normal(mu_a, sd_a, n_a), rng.normal(mu_b, sd_b, n_b)


def _statistics_of(*samples):
    return SufficientStatistics(
        n=[len(s) for s in samples],
        sum=[s.sum() for s in samples],
        sum_squares=[(s**2).sum() for s in samples],
    )


@pytest.mark.parametrize("case", WELCH_CASES)
@pytest.mark.parametrize(
    ("alternative", "scipy_alternative"),
    [("two_sided", "two-sided"), ("greater", "greater"), ("less", "less")],
)
def test_welch_matches_scipy_on_raw_data(case, alternative, scipy_alternative):
    control, treatment = _raw_samples(case)
    settings = AnalysisSettings(difference="absolute", alternative=alternative)
    result = analyze_batch(_statistics_of(control, treatment), settings=settings)
    reference = scipy_stats.ttest_ind(
        treatment, control, equal_var=False, alternative=scipy_alternative
    )
    interval = reference.confidence_interval(0.95)

    assert result.status[0] == "ok"
    assert result.effect[0] == pytest.approx(treatment.mean() - control.mean(), rel=RTOL)
    assert result.effect[0] / result.standard_error[0] == pytest.approx(
        reference.statistic, rel=RTOL
    )
    assert result.degrees_of_freedom[0] == pytest.approx(reference.df, rel=RTOL)
    assert result.p_value[0] == pytest.approx(reference.pvalue, rel=RTOL)
    assert result.ci_low[0] == pytest.approx(interval.low, rel=RTOL)
    assert result.ci_high[0] == pytest.approx(interval.high, rel=RTOL)


def test_welch_matches_scipy_from_stats_over_a_vectorised_batch():
    rng = np.random.default_rng(11)
    rows = 500
    n = rng.integers(2, 5000, size=(rows, 2)).astype(float)
    mean = rng.normal(0, 5, size=(rows, 2))
    sd = rng.uniform(0.1, 10, size=(rows, 2))
    stats = SufficientStatistics(n=n, sum=n * mean, sum_squares=(n - 1) * sd**2 + n * mean**2)
    result = analyze_batch(stats, settings=AnalysisSettings(difference="absolute"))
    reference = scipy_stats.ttest_ind_from_stats(
        mean[:, 1], sd[:, 1], n[:, 1], mean[:, 0], sd[:, 0], n[:, 0], equal_var=False
    )
    np.testing.assert_allclose(result.p_value[:, 0], reference.pvalue, rtol=RTOL)


@pytest.mark.parametrize(
    ("counts", "nobs"),
    [((120, 100), (1000, 1000)), ((16, 14), (30, 28)), ((4210, 4000), (52000, 51500))],
)
@pytest.mark.parametrize(
    ("alternative", "statsmodels_alternative"),
    [("two_sided", "two-sided"), ("greater", "larger"), ("less", "smaller")],
)
def test_pooled_z_test_matches_statsmodels_proportions_ztest(
    counts, nobs, alternative, statsmodels_alternative
):
    z, p = two_proportion_z_test(counts[1], nobs[1], counts[0], nobs[0], alternative)
    ref_z, ref_p = proportions_ztest(
        np.array(counts), np.array(nobs), alternative=statsmodels_alternative
    )
    assert float(z) == pytest.approx(ref_z, rel=RTOL)
    assert float(p) == pytest.approx(ref_p, rel=RTOL)


def test_proportion_welch_uses_p_one_minus_p_variance_like_gbstats():
    result = analyze_batch(
        SufficientStatistics(n=[1000, 1000], sum=[100, 120], sum_squares=[100, 120]),
        metric_type="proportion",
        settings=AnalysisSettings(difference="absolute"),
    )
    se = np.sqrt(0.1 * 0.9 / 1000 + 0.12 * 0.88 / 1000)
    assert result.standard_error[0] == pytest.approx(se, rel=RTOL)
    df = se**4 / ((0.1 * 0.9 / 1000) ** 2 / 999 + (0.12 * 0.88 / 1000) ** 2 / 999)
    assert result.p_value[0] == pytest.approx(2 * scipy_stats.t.sf(0.02 / se, df), rel=RTOL)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ((821588, 815482), None),
        ((5000, 5100, 4900), None),
        ((1000, 2100, 2900), (1, 2, 3)),
        ((50, 60, 70, 80), (0.1, 0.2, 0.3, 0.4)),
    ],
)
def test_srm_matches_scipy_chisquare(counts, weights):
    observed = np.array(counts, dtype=float)
    share = np.full(len(counts), 1 / len(counts)) if weights is None else np.array(weights)
    expected = observed.sum() * share / share.sum()
    reference = scipy_stats.chisquare(observed, expected)
    result = srm_test(counts, weights)
    assert float(result.chi_square) == pytest.approx(reference.statistic, rel=RTOL)
    assert float(result.p_value) == pytest.approx(reference.pvalue, rel=RTOL)


def test_srm_flags_the_kohavi_tang_xu_example():
    result = srm_test([821588, 815482], [0.5, 0.5])
    assert float(result.p_value) == pytest.approx(1.8e-6, rel=0.02)
    assert bool(result.flag) is True
    assert bool(srm_test([821588, 815482], threshold=1e-6).flag) is False


def test_srm_is_vectorised_over_segments():
    counts = np.array([[821588, 815482], [1000, 1010], [0, 0]])
    result = srm_test(counts)
    assert result.flag.tolist() == [True, False, False]
    assert result.status.tolist() == ["ok", "ok", "insufficient_data"]


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjusted_p_values_match_statsmodels_multipletests(method, seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 1e-4, size=10), [0.01, 0.01, 0.5]])
    rng.shuffle(p)
    ours = adjust_p_values(p, "holm" if method == "holm" else "bh")
    np.testing.assert_allclose(ours, multipletests(p, method=method)[1], rtol=RTOL, atol=0)


def test_adjusted_p_values_keep_shape_and_skip_missing_values():
    p = np.array([[0.01, np.nan], [0.04, 0.03]])
    finite = np.array([0.01, 0.04, 0.03])
    ours = adjust_p_values(p, "bh")
    expected = multipletests(finite, method="fdr_bh")[1]
    assert np.isnan(ours[0, 1])
    np.testing.assert_allclose(ours[np.isfinite(ours)], expected, rtol=RTOL)


@pytest.mark.parametrize("effect_size", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("n", [100, 2000, 20000])
@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
def test_normal_power_matches_statsmodels_normal_ind_power(effect_size, n, alternative):
    # τ = δ/√(σ²_A + σ²_B) = d/√2 for Cohen's d with equal variances.
    tau = effect_size / np.sqrt(2.0)
    ours = normal_power(tau, n, 0.05, two_sided=alternative == "two-sided")
    reference = NormalIndPower().power(effect_size, n, 0.05, alternative=alternative)
    assert ours == pytest.approx(reference, rel=RTOL)


@pytest.mark.parametrize("effect_size", [0.02, 0.1, 0.5])
def test_fixed_sample_size_matches_statsmodels_solve_power(effect_size):
    ours = fixed_sample_size(effect_size / np.sqrt(2.0), 0.05, 0.8)
    reference = NormalIndPower().solve_power(effect_size, alpha=0.05, power=0.8)
    # statsmodels also counts the (negligible) opposite tail; only that separates the two.
    assert ours == pytest.approx(reference, rel=1e-5)


@pytest.mark.parametrize("case", WELCH_CASES[1:5])
@pytest.mark.parametrize("margin", [0.0, 0.05])
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_guardrail_harm_test_matches_a_one_sided_scipy_welch_test(case, margin, higher_is_better):
    """Harm beyond the margin, H1: B < A − margin (higher is better) or B > A + margin (lower is
    better), is scipy's one-sided Welch test on the treatment shifted by the margin."""
    control, treatment = _raw_samples(case)
    result = analyze_guardrails(
        _statistics_of(control, treatment),
        metric_type="mean",
        higher_is_better=higher_is_better,
        settings=AnalysisSettings(difference="absolute"),
        margin=margin,
    )
    shift, alternative = (margin, "less") if higher_is_better else (-margin, "greater")
    reference = scipy_stats.ttest_ind(
        treatment + shift, control, equal_var=False, alternative=alternative
    )
    harm = control.mean() - treatment.mean()
    harm = harm if higher_is_better else -harm
    assert result.harm[0] == pytest.approx(harm, rel=RTOL)
    assert result.p_value[0] == pytest.approx(reference.pvalue, rel=RTOL)
    bound = reference.confidence_interval(0.95)
    # The one-sided bound on harm is the mirrored bound of the shifted difference.
    expected = -(bound.high - shift) if higher_is_better else bound.low - shift
    assert result.harm_lower_bound[0] == pytest.approx(expected, rel=RTOL)
    assert bool(result.harmful[0]) == (reference.pvalue < 0.05)
