"""The vectorised API: many metrics × segments × variants, mixed metric types, CUPED."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from experiments.stats import AnalysisSettings, SufficientStatistics, analyze_batch

NAN = np.nan

# Three metrics (rows) × 3 variants: a proportion, a mean and a ratio.
N = [[1000, 1010, 990], [1000, 1010, 990], [1000, 1010, 990]]
SUM = [[100, 120, 95], [5000, 5300, 4900], [300, 330, 290]]
SQUARES = [[100, 120, 95], [30000, 33000, 29500], [500, 560, 480]]
DENOMINATOR = [[NAN] * 3, [NAN] * 3, [900, 905, 880]]
DENOMINATOR_SQUARES = [[NAN] * 3, [NAN] * 3, [1300, 1310, 1270]]
PRODUCTS = [[NAN] * 3, [NAN] * 3, [450, 480, 430]]
TYPES = ["proportion", "mean", "ratio"]


def _row(index, **extra):
    fields = {
        "n": N[index],
        "sum": SUM[index],
        "sum_squares": SQUARES[index],
    }
    if TYPES[index] == "ratio":
        fields.update(
            denominator_sum=DENOMINATOR[index],
            denominator_sum_squares=DENOMINATOR_SQUARES[index],
            sum_product=PRODUCTS[index],
        )
    fields.update(extra)
    return SufficientStatistics(**fields)


def test_mixed_metric_types_in_one_call_match_one_call_per_metric():
    batch_stats = SufficientStatistics(
        n=N,
        sum=SUM,
        sum_squares=SQUARES,
        denominator_sum=DENOMINATOR,
        denominator_sum_squares=DENOMINATOR_SQUARES,
        sum_product=PRODUCTS,
    )
    batch = analyze_batch(batch_stats, metric_type=np.array(TYPES))
    assert batch.effect.shape == (3, 2)
    assert (batch.status == "ok").all()
    for index, metric_type in enumerate(TYPES):
        alone = analyze_batch(_row(index), metric_type=metric_type)
        np.testing.assert_allclose(batch.effect[index], alone.effect, rtol=1e-12)
        np.testing.assert_allclose(batch.p_value[index], alone.p_value, rtol=1e-12)
        np.testing.assert_allclose(batch.ci_low[index], alone.ci_low, rtol=1e-12)


def test_segments_axis_is_carried_through():
    rng = np.random.default_rng(3)
    shape = (4, 6, 3)  # metrics × segments × variants
    n = rng.integers(100, 1000, size=shape).astype(float)
    total = np.round(n * 0.3)
    result = analyze_batch(
        SufficientStatistics(n=n, sum=total, sum_squares=total), metric_type="proportion"
    )
    assert result.effect.shape == (4, 6, 2)
    assert result.status.shape == (4, 6, 2)
    assert result.messages.shape == (4, 6, 2)


def test_correction_treats_the_whole_call_as_one_family():
    rng = np.random.default_rng(8)
    n = np.full((5, 4, 3), 2000.0)
    total = rng.binomial(2000, [0.1, 0.11, 0.1], size=(5, 4, 3)).astype(float)
    stats = SufficientStatistics(n=n, sum=total, sum_squares=total)
    raw = analyze_batch(stats, metric_type="proportion")
    holm = analyze_batch(
        stats, metric_type="proportion", settings=AnalysisSettings(correction="holm")
    )
    expected = multipletests(raw.p_value.ravel(), method="holm")[1].reshape(raw.p_value.shape)
    np.testing.assert_allclose(holm.p_value, expected, rtol=1e-9)
    np.testing.assert_array_equal(holm.p_value_unadjusted, raw.p_value)
    excludes_zero = (holm.ci_low > 0) | (holm.ci_high < 0)
    np.testing.assert_array_equal(excludes_zero, holm.p_value < 0.05)
    assert np.all(holm.ci_level >= 0.95)
    assert np.all(holm.ci_level <= 1 - 0.05 / holm.p_value.size + 1e-12)


def test_higher_is_better_can_differ_per_metric():
    stats = SufficientStatistics(
        n=[[1000, 1000]] * 2, sum=[[100, 120]] * 2, sum_squares=[[100, 120]] * 2
    )
    result = analyze_batch(
        stats,
        metric_type="proportion",
        settings=AnalysisSettings(engine="bayesian"),
        higher_is_better=[True, False],
    )
    assert result.chance_to_win[0, 0] == pytest.approx(1 - result.chance_to_win[1, 0])
    assert result.risk[1, 0] == pytest.approx(result.risk_control[0, 0])


def _cuped_rows():
    rng = np.random.default_rng(21)
    z = rng.standard_normal((2, 3000))
    x = 10 + 0.8 * z + 0.6 * rng.standard_normal((2, 3000))
    return {
        "n": [3000, 3000],
        "sum": x.sum(1),
        "sum_squares": (x**2).sum(1),
        "covariate_sum": z.sum(1),
        "covariate_sum_squares": (z**2).sum(1),
        "covariate_sum_product": (x * z).sum(1),
    }


def test_cuped_reports_theta_and_the_variance_reduction_it_achieved():
    sums = _cuped_rows()
    adjusted = analyze_batch(
        SufficientStatistics(**sums), settings=AnalysisSettings(difference="absolute")
    )
    plain = analyze_batch(
        SufficientStatistics(**sums), settings=AnalysisSettings(difference="absolute", cuped=False)
    )
    reduction = 1 - adjusted.standard_error[0] ** 2 / plain.standard_error[0] ** 2
    assert adjusted.variance_reduction[0] == pytest.approx(reduction, rel=1e-12)
    assert adjusted.variance_reduction[0] == pytest.approx(0.64, abs=0.03)
    assert adjusted.theta[0] == pytest.approx(0.8, abs=0.03)
    assert plain.variance_reduction[0] == 0


def test_cuped_theta_is_the_pooled_regression_slope():
    sums = _cuped_rows()
    n = np.sum(sums["n"])
    sx, sz = np.sum(sums["sum"]), np.sum(sums["covariate_sum"])
    cross = np.sum(sums["covariate_sum_product"]) - sx * sz / n
    spread = np.sum(sums["covariate_sum_squares"]) - sz**2 / n
    result = analyze_batch(SufficientStatistics(**sums))
    assert result.theta[0] == pytest.approx(cross / spread, rel=1e-12)


def test_missing_covariate_switches_cuped_off_for_that_row_only():
    sums = _cuped_rows()
    stacked = {key: np.stack([np.asarray(value, float)] * 2) for key, value in sums.items()}
    for key in ("covariate_sum", "covariate_sum_squares", "covariate_sum_product"):
        stacked[key][1] = NAN
    result = analyze_batch(
        SufficientStatistics(**stacked), settings=AnalysisSettings(difference="absolute")
    )
    plain = analyze_batch(
        SufficientStatistics(n=sums["n"], sum=sums["sum"], sum_squares=sums["sum_squares"]),
        settings=AnalysisSettings(difference="absolute"),
    )
    assert result.status.tolist() == [["ok"], ["ok"]]
    assert result.variance_reduction[0, 0] > 0.5
    assert result.theta[1, 0] == 0
    assert result.p_value[1, 0] == pytest.approx(plain.p_value[0], rel=1e-12)
