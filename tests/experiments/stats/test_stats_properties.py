"""Properties that must hold for any input (hypothesis)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from experiments.stats import (
    AnalysisSettings,
    SufficientStatistics,
    adjust_p_values,
    analyze_batch,
    analyze_guardrails,
)

# Derandomized so CI is reproducible; run with --hypothesis-seed=N to explore further.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def mean_arms(draw):
    """Consistent sums of a metric with mean/sd ratio at most 1000 (no catastrophic rounding)
    and no subnormal means (rescaling those underflows to zero)."""
    n = draw(st.integers(2, 1_000_000))
    mean = draw(st.floats(-100, 100).filter(lambda m: m == 0 or abs(m) > 1e-100))
    sd = draw(st.floats(0.1, 100))
    return float(n), n * mean, (n - 1) * sd**2 + n * mean**2


@st.composite
def proportion_arms(draw):
    n = draw(st.integers(2, 1_000_000))
    conversions = draw(st.integers(0, n))
    return float(n), float(conversions), float(conversions)


any_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e12, 1e12),
    st.sampled_from([0.0, 1.0, 2.0, -1.0, 1e-300]),
)

options = st.fixed_dictionaries(
    {
        "engine": st.sampled_from(["frequentist", "bayesian"]),
        "difference": st.sampled_from(["absolute", "relative"]),
        "alternative": st.sampled_from(["two_sided", "greater", "less"]),
        "sequential": st.booleans(),
        "correction": st.sampled_from(["none", "holm", "bh"]),
        "alpha": st.floats(0.001, 0.5),
    }
)


def _stats(*arms):
    n, total, squares = (list(column) for column in zip(*arms, strict=True))
    return SufficientStatistics(n=n, sum=total, sum_squares=squares)


@PROPERTY_SETTINGS
@given(control=mean_arms(), treatment=mean_arms(), sequential=st.booleans())
def test_swapping_control_and_treatment_flips_the_sign_of_the_absolute_effect(
    control, treatment, sequential
):
    options = AnalysisSettings(difference="absolute", sequential=sequential)
    forward = analyze_batch(_stats(control, treatment), settings=options)
    backward = analyze_batch(_stats(treatment, control), settings=options)
    assert backward.effect[0] == -forward.effect[0]
    assert backward.p_value[0] == pytest.approx(forward.p_value[0], rel=1e-9, abs=1e-300)
    assert backward.ci_low[0] == pytest.approx(-forward.ci_high[0], rel=1e-9, abs=1e-12)


@PROPERTY_SETTINGS
@given(control=proportion_arms(), treatment=proportion_arms())
def test_swapping_arms_turns_chance_to_win_into_its_complement(control, treatment):
    options = AnalysisSettings(engine="bayesian", difference="absolute")
    forward = analyze_batch(_stats(control, treatment), metric_type="proportion", settings=options)
    backward = analyze_batch(_stats(treatment, control), metric_type="proportion", settings=options)
    if forward.status[0] == "ok":
        assert backward.chance_to_win[0] == pytest.approx(1 - forward.chance_to_win[0], abs=1e-12)
        assert backward.risk[0] == pytest.approx(forward.risk_control[0], rel=1e-9, abs=1e-15)


@PROPERTY_SETTINGS
@given(
    control=mean_arms(),
    treatment=mean_arms(),
    scale=st.floats(1e-3, 1e3),
    difference=st.sampled_from(["absolute", "relative"]),
    sequential=st.booleans(),
)
def test_rescaling_the_metric_leaves_p_values_unchanged(
    control, treatment, scale, difference, sequential
):
    options = AnalysisSettings(difference=difference, sequential=sequential)
    original = analyze_batch(_stats(control, treatment), settings=options)
    rescaled_arms = [(n, scale * s, scale**2 * q) for n, s, q in (control, treatment)]
    rescaled = analyze_batch(_stats(*rescaled_arms), settings=options)
    assert rescaled.status[0] == original.status[0]
    if original.status[0] == "ok":
        assert rescaled.p_value[0] == pytest.approx(original.p_value[0], rel=1e-6, abs=1e-300)
        mean_a, mean_b = control[1] / control[0], treatment[1] / treatment[0]
        if difference == "relative":  # dimensionless: rounding noise is ~1e-16 × (1 + |b/a|)
            factor, size = 1.0, 1.0 + abs(mean_b / mean_a)
        else:
            factor, size = scale, scale * (abs(mean_a) + abs(mean_b))
        assert rescaled.effect[0] == pytest.approx(
            factor * original.effect[0], rel=1e-9, abs=1e-12 * size
        )


def _check_no_silent_nan(result, engine):
    ok = result.status == "ok"
    finite_fields = ["effect", "standard_error", "ci_level", "degrees_of_freedom"]
    finite_fields += ["p_value"] if engine == "frequentist" else ["chance_to_win", "risk"]
    for name in finite_fields:
        values = getattr(result, name)
        if name == "degrees_of_freedom" and engine == "bayesian":
            continue
        assert np.all(np.isfinite(values[ok])), name
    for name in ("ci_low", "ci_high"):
        assert not np.any(np.isnan(getattr(result, name)[ok])), name
    for name in ("p_value", "chance_to_win", "risk"):
        values = getattr(result, name)
        if values is not None:
            finite = values[np.isfinite(values)]
            assert np.all((finite >= 0) & (finite <= (np.inf if name == "risk" else 1)))


@PROPERTY_SETTINGS
@given(
    arms=st.lists(st.tuples(any_number, any_number, any_number), min_size=2, max_size=4),
    metric_type=st.sampled_from(["mean", "proportion"]),
    options=options,
)
def test_arbitrary_inputs_never_crash_or_yield_nan_with_an_ok_status(arms, metric_type, options):
    result = analyze_batch(
        _stats(*arms), metric_type=metric_type, settings=AnalysisSettings(**options)
    )
    _check_no_silent_nan(result, options["engine"])


@PROPERTY_SETTINGS
@given(
    arms=st.lists(
        st.tuples(
            st.integers(0, 10**7).map(float),
            any_number,
            any_number,
            any_number,
            any_number,
            any_number,
        ),
        min_size=2,
        max_size=3,
    ),
    options=options,
)
def test_arbitrary_ratio_inputs_never_yield_nan_with_an_ok_status(arms, options):
    columns = [list(column) for column in zip(*arms, strict=True)]
    stats = SufficientStatistics(
        n=columns[0],
        sum=columns[1],
        sum_squares=columns[2],
        denominator_sum=columns[3],
        denominator_sum_squares=columns[4],
        sum_product=columns[5],
    )
    result = analyze_batch(stats, metric_type="ratio", settings=AnalysisSettings(**options))
    _check_no_silent_nan(result, options["engine"])


@PROPERTY_SETTINGS
@given(
    arms=st.lists(mean_arms(), min_size=2, max_size=5),
    options=options.filter(lambda o: o["engine"] == "frequentist"),
)
def test_p_values_lie_in_the_unit_interval_and_agree_with_the_interval(arms, options):
    result = analyze_batch(_stats(*arms), settings=AnalysisSettings(**options))
    ok = result.status == "ok"
    p = result.p_value[ok]
    assert np.all((p >= 0) & (p <= 1))
    excludes_zero = (result.ci_low[ok] > 0) | (result.ci_high[ok] < 0)
    clear = np.abs(p - options["alpha"]) > 1e-9 * options["alpha"]
    assert np.array_equal(excludes_zero[clear], (p < options["alpha"])[clear])


@settings(max_examples=40, deadline=None, derandomize=True)  # multipletests: ~40 ms a call
@given(
    p=st.lists(st.floats(0, 1), min_size=1, max_size=60),
    method=st.sampled_from(["holm", "bh"]),
)
def test_adjusted_p_values_agree_with_multipletests_for_any_list(p, method):
    reference = multipletests(np.array(p), method="holm" if method == "holm" else "fdr_bh")[1]
    np.testing.assert_allclose(adjust_p_values(p, method), reference, rtol=1e-9, atol=1e-300)


@pytest.mark.filterwarnings("error")
@PROPERTY_SETTINGS
@given(
    arms=st.lists(
        st.tuples(st.floats(0, 1e12), any_number, any_number, any_number, any_number, any_number),
        min_size=2,
        max_size=3,
    ),
    options=options.filter(lambda o: o["engine"] == "frequentist"),
    margin=st.sampled_from([0.0, 0.1, 1e300]),
)
def test_arbitrary_cuped_and_guardrail_inputs_never_yield_nan_with_an_ok_status(
    arms, options, margin
):
    columns = [list(column) for column in zip(*arms, strict=True)]
    stats = SufficientStatistics(
        n=columns[0],
        sum=columns[1],
        sum_squares=columns[2],
        covariate_sum=columns[3],
        covariate_sum_squares=columns[4],
        covariate_sum_product=columns[5],
    )
    analysis_settings = AnalysisSettings(**options)
    _check_no_silent_nan(analyze_batch(stats, settings=analysis_settings), "frequentist")
    guardrail = analyze_guardrails(
        stats, metric_type="mean", settings=analysis_settings, margin=margin
    )
    ok = guardrail.status == "ok"
    assert np.all(np.isfinite(guardrail.harm_lower_bound[ok]))
    assert np.all((guardrail.p_value[ok] >= 0) & (guardrail.p_value[ok] <= 1))
    assert not np.any(guardrail.harmful[~ok])
