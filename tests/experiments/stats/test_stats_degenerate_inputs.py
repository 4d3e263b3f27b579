"""Degenerate data gives a status and a message, never an exception or a silent NaN."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments.stats import (
    STATUS_MESSAGES,
    AnalysisRequest,
    AnalysisSettings,
    StatsInputError,
    SufficientStatistics,
    VariantStatistics,
    analyze,
    analyze_batch,
    analyze_guardrails,
    srm_test,
)
from experiments.stats.messages import (
    INSUFFICIENT_DATA_MESSAGE,
    SRM_NO_UNITS_MESSAGE,
    TOO_FEW_VARIANTS_ERROR,
    ZERO_CONTROL_MEAN_MESSAGE,
)

OUTPUTS = ("effect", "standard_error", "ci_low", "ci_high", "p_value", "degrees_of_freedom")


def _run(n, total, squares, metric_type="mean", **settings):
    stats = SufficientStatistics(n=n, sum=total, sum_squares=squares)
    return analyze_batch(stats, metric_type=metric_type, settings=AnalysisSettings(**settings))


@pytest.mark.parametrize(
    ("n", "total", "squares", "metric_type", "difference", "status"),
    [
        ([0, 0], [0, 0], [0, 0], "mean", "relative", "insufficient_data"),
        ([1, 500], [3, 1000], [9, 3000], "mean", "absolute", "insufficient_data"),
        ([0, 10], [0, 5], [0, 5], "proportion", "absolute", "insufficient_data"),
        ([100, 100], [0, 5], [0, 5], "proportion", "relative", "zero_control_mean"),
        ([100, 100], [0, 0], [0, 0], "proportion", "absolute", "zero_variance"),
        ([50, 60], [250, 360], [1250, 2160], "mean", "absolute", "zero_variance"),
        ([100, 100], [0, 30], [10, 50], "mean", "relative", "zero_control_mean"),
        ([100, 100], [120, 80], [100, 90], "mean", "absolute", "negative_variance"),
        ([100, 100], [120, 130], [120, 130], "proportion", "absolute", "invalid_input"),
        ([100, 100], [-1, 5], [1, 5], "proportion", "absolute", "invalid_input"),
        ([-5, 100], [1, 5], [1, 5], "mean", "absolute", "invalid_input"),
        ([100, 100], [np.nan, 5], [1, 5], "mean", "absolute", "invalid_input"),
        ([100, 100], [10, 5], [np.inf, 5], "mean", "absolute", "invalid_input"),
        ([100, 100], [10, 5], [-1, 5], "mean", "absolute", "invalid_input"),
    ],
)
@pytest.mark.parametrize("engine", ["frequentist", "bayesian"])
def test_degenerate_comparison_gets_a_status_and_no_numbers(
    n, total, squares, metric_type, difference, status, engine
):
    result = _run(n, total, squares, metric_type, difference=difference, engine=engine)
    assert result.status.tolist() == [status]
    assert result.messages.tolist() == [STATUS_MESSAGES[status]]
    assert STATUS_MESSAGES[status]
    for name in ("ci_low", "ci_high", "standard_error"):
        assert np.isnan(getattr(result, name)[0])
    probabilities = result.p_value if engine == "frequentist" else result.chance_to_win
    assert np.isnan(probabilities[0])


def test_zero_variance_keeps_the_difference_between_constants():
    result = _run([50, 60], [250, 360], [1250, 2160], difference="absolute")
    assert result.status[0] == "zero_variance"
    assert result.effect[0] == pytest.approx(1.0)


def test_one_constant_arm_is_still_testable():
    result = _run([1000, 1000], [0, 30], [0, 30], "proportion", difference="absolute")
    assert result.status[0] == "ok"
    assert result.degrees_of_freedom[0] == pytest.approx(999)
    assert 0 < result.p_value[0] < 1e-6


def test_rounding_that_makes_a_variance_slightly_negative_is_treated_as_zero():
    n, total = 1000.0, 12345.678
    exact = total**2 / n
    result = _run([n, n], [total, total * 1.01], [exact * (1 - 1e-13), (total * 1.01) ** 2 / n])
    assert result.status[0] == "zero_variance"
    noisy_treatment = _run([n, n], [total, 13000.0], [exact * (1 - 1e-13), 200000.0])
    assert noisy_treatment.status[0] == "ok"
    assert np.isfinite(noisy_treatment.p_value[0])


def test_inconsistent_sum_of_squares_is_reported_as_negative_variance():
    result = _run([100, 100], [120, 80], [100, 90])
    assert result.status[0] == "negative_variance"
    assert np.isnan(result.effect[0])


def test_zero_control_mean_message_suggests_the_absolute_difference():
    result = _run([100, 100], [0, 5], [0, 5], "proportion", difference="relative")
    assert result.messages[0] == ZERO_CONTROL_MEAN_MESSAGE
    assert "absolute" in ZERO_CONTROL_MEAN_MESSAGE
    absolute = _run([100, 100], [0, 5], [0, 5], "proportion", difference="absolute")
    assert absolute.status[0] == "ok"


def test_ratio_with_zero_denominator_is_reported():
    stats = SufficientStatistics(
        n=[100, 100],
        sum=[10, 12],
        sum_squares=[20, 30],
        denominator_sum=[0, 50],
        denominator_sum_squares=[0, 60],
        sum_product=[0, 15],
    )
    result = analyze_batch(stats, metric_type="ratio")
    assert result.status.tolist() == ["zero_denominator"]


def test_ratio_with_impossible_covariance_is_reported_as_negative_variance():
    stats = SufficientStatistics(
        n=[100, 100],
        sum=[50, 60],
        sum_squares=[60, 70],
        denominator_sum=[100, 100],
        denominator_sum_squares=[120, 130],
        sum_product=[500, 500],
    )
    assert analyze_batch(stats, metric_type="ratio").status.tolist() == ["negative_variance"]


def test_a_degenerate_row_does_not_disturb_the_others_in_a_batch():
    good = ([1000, 1010], [510, 560], [1200, 1400])
    stats = SufficientStatistics(
        n=[good[0], [0, 0], [1, 1]],
        sum=[good[1], [0, 0], [1, 1]],
        sum_squares=[good[2], [0, 0], [1, 1]],
    )
    settings = AnalysisSettings(correction="holm")
    batch = analyze_batch(stats, settings=settings)
    alone = _run(*good)
    assert batch.status[:, 0].tolist() == ["ok", "insufficient_data", "insufficient_data"]
    assert batch.p_value[0, 0] == pytest.approx(alone.p_value[0], rel=1e-12)
    assert batch.ci_low[0, 0] == pytest.approx(alone.ci_low[0], rel=1e-12)


def test_insufficient_data_message_is_plain_english():
    result = _run([1, 1], [1, 1], [1, 1])
    assert result.messages[0] == INSUFFICIENT_DATA_MESSAGE


def test_a_single_variant_is_a_request_error_not_a_status():
    with pytest.raises(StatsInputError) as raised:
        _run([100], [10], [20])
    assert raised.value.field == "variants"
    assert raised.value.message == TOO_FEW_VARIANTS_ERROR


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"engine": "bootstrap"}, "engine"),
        ({"difference": "ratio"}, "difference"),
        ({"correction": "bonferroni"}, "correction"),
        ({"alternative": "both"}, "alternative"),
        ({"sequential_tuning": 0}, "sequential_tuning"),
    ],
)
def test_invalid_settings_raise_an_error_naming_the_field(kwargs, field):
    with pytest.raises(StatsInputError) as raised:
        AnalysisSettings(**kwargs)
    assert raised.value.field == field


def test_unknown_metric_type_raises_an_error_naming_the_field():
    stats = SufficientStatistics(n=[10, 10], sum=[1, 2], sum_squares=[1, 2])
    with pytest.raises(StatsInputError) as raised:
        analyze_batch(stats, metric_type="median")
    assert raised.value.field == "metric_type"


def test_partial_ratio_fields_raise_an_error_naming_the_missing_field():
    with pytest.raises(StatsInputError) as raised:
        SufficientStatistics(n=[10, 10], sum=[1, 2], sum_squares=[1, 2], denominator_sum=[5, 5])
    assert raised.value.field == "denominator_sum_squares"


@pytest.mark.parametrize("sequential", [False, True])
def test_ok_results_have_every_number_finite(sequential):
    rng = np.random.default_rng(5)
    n = rng.integers(2, 10_000, size=(300, 3)).astype(float)
    rate = rng.uniform(0, 1, size=(300, 3))
    stats = SufficientStatistics(n=n, sum=np.round(n * rate), sum_squares=np.round(n * rate))
    result = analyze_batch(
        stats,
        metric_type="proportion",
        settings=AnalysisSettings(sequential=sequential, correction="bh"),
    )
    ok = result.status == "ok"
    assert ok.mean() > 0.9
    for name in OUTPUTS:
        values = getattr(result, name)
        assert np.all(np.isfinite(values[ok])), name


def test_srm_with_counts_that_overflow_is_a_status_not_a_silent_nan():
    result = srm_test([1e308, 1e308])
    assert result.status.tolist() == "numerical_error"
    assert bool(result.flag) is False
    assert np.isnan(result.p_value)


def test_srm_of_a_request_with_no_units_says_so():
    response = analyze(
        AnalysisRequest(
            metric_type="proportion",
            variants=(VariantStatistics("control", 0, 0), VariantStatistics("b", 0, 0)),
        )
    )
    assert response.srm.status == "insufficient_data"
    assert response.srm.message == SRM_NO_UNITS_MESSAGE
    assert response.srm.p_value is None


def test_a_tiny_alpha_still_gives_a_finite_interval():
    """t_{1−α/2} is computed as −t_{α/2}: 1 − 5e-301 would round to 1 and the quantile to inf."""
    result = _run([2, 2], [0, 0], [0, 1], difference="absolute", alpha=1e-300)
    assert result.status[0] == "ok"
    half_width = scipy_stats.t.isf(5e-301, 1) * np.sqrt(0.5)  # df = 1, SE = √(s²/n) = √(1/2)
    assert result.ci_high[0] == pytest.approx(half_width, rel=1e-9)
    assert result.ci_low[0] == pytest.approx(-half_width, rel=1e-9)


@pytest.mark.parametrize("engine", ["frequentist", "bayesian"])
def test_an_interval_that_overflows_is_a_numerical_error_not_a_silent_nan(engine):
    result = _run([2, 2], [0, 0], [0, 1e308], difference="absolute", alpha=1e-300, engine=engine)
    assert result.status.tolist() == ["numerical_error"]
    assert np.isnan(result.ci_low[0])
    assert np.isnan(result.standard_error[0])


def test_a_guardrail_bound_that_overflows_is_a_numerical_error():
    stats = SufficientStatistics(n=[2, 2], sum=[0, 0], sum_squares=[0, 1e308])
    settings = AnalysisSettings(difference="absolute", alpha=1e-300)
    result = analyze_guardrails(stats, metric_type="mean", settings=settings)
    assert result.status.tolist() == ["numerical_error"]
    assert result.harmful.tolist() == [False]
    assert np.isnan(result.p_value[0])
