"""Power and planning: sample size, MDE, duration; fixed and sequential designs."""

import math

import pytest
from scipy import stats as scipy_stats

from experiments.stats import PowerRequest, StatsInputError, describe_plan, plan
from experiments.stats.messages import MDE_OR_SIZE_ERROR, TOO_FEW_VARIANTS_ERROR
from experiments.stats.power import Baseline, sequential_multiplier, signal_and_spread

Z = scipy_stats.norm.ppf


def test_sample_size_for_a_mean_matches_the_textbook_formula():
    response = plan(
        PowerRequest(baseline_mean=10, baseline_variance=4, mde=0.2, mde_type="absolute")
    )
    expected = (Z(0.975) + Z(0.8)) ** 2 * (4 + 4) / 0.2**2
    assert response.sample_size_per_variant == math.ceil(expected)
    assert response.total_sample_size == 2 * math.ceil(expected)
    assert response.mde_relative == pytest.approx(0.02)


def test_sample_size_for_a_rate_is_close_to_the_textbook_formula():
    response = plan(PowerRequest(baseline_rate=0.1, mde=0.01, mde_type="absolute"))
    textbook = (Z(0.975) + Z(0.8)) ** 2 * (0.1 * 0.9 + 0.11 * 0.89) / 0.01**2
    # Only the statistic's spread under the alternative (s ≈ 0.9995 here) separates the two.
    assert response.sample_size_per_variant == pytest.approx(textbook, rel=5e-4)


def test_statistic_spread_is_one_for_absolute_lifts_on_means():
    baseline = Baseline(mean=10.0, variance=4.0, is_rate=False)
    tau, spread = signal_and_spread(baseline, 0.5, "absolute")
    assert tau == pytest.approx(0.5 / math.sqrt(8.0), rel=1e-12)
    assert spread == pytest.approx(1.0, rel=1e-8)


def test_statistic_spread_for_relative_lifts_follows_the_delta_method():
    baseline = Baseline(mean=10.0, variance=4.0, is_rate=False)
    tau, spread = signal_and_spread(baseline, 1.0, "relative")
    a, b, v = 10.0, 11.0, 4.0
    q = v + (b / a) ** 2 * v
    d_b = (1 - (b - a) * b * v / (a**2 * q)) / math.sqrt(q)
    d_a = (-1 + (b - a) * b**2 * v / (a**3 * q)) / math.sqrt(q)
    assert tau == pytest.approx(1.0 / math.sqrt(q), rel=1e-12)
    assert spread == pytest.approx(math.sqrt(d_b**2 * v + d_a**2 * v), rel=1e-7)
    assert spread < 1


def test_relative_mde_plans_for_the_delta_method_test_the_analysis_runs():
    response = plan(PowerRequest(baseline_rate=0.1, mde=0.1, mde_type="relative"))
    tau, spread = signal_and_spread(Baseline(0.1, 0.09, is_rate=True), 0.01, "relative")
    expected = ((Z(0.975) + Z(0.8) * spread) / tau) ** 2
    assert response.sample_size_per_variant == math.ceil(expected)
    assert tau == pytest.approx(0.01 / math.sqrt(0.11 * 0.89 + 1.1**2 * 0.09), rel=1e-12)
    assert response.mde_absolute == pytest.approx(0.01)


def test_more_variants_split_alpha_by_bonferroni():
    two = plan(PowerRequest(baseline_rate=0.2, mde=0.05))
    four = plan(PowerRequest(baseline_rate=0.2, mde=0.05, n_variants=4))
    assert four.alpha_per_comparison == pytest.approx(0.05 / 3)
    assert four.sample_size_per_variant > two.sample_size_per_variant
    assert four.total_sample_size == 4 * four.sample_size_per_variant


def test_mde_for_a_size_inverts_the_sample_size():
    forward = plan(PowerRequest(baseline_rate=0.05, mde=0.08))
    backward = plan(
        PowerRequest(baseline_rate=0.05, sample_size_per_variant=forward.sample_size_per_variant)
    )
    assert backward.mde_relative == pytest.approx(0.08, rel=1e-3)
    assert backward.mde_relative <= 0.08


def test_duration_rounds_up_to_whole_days_of_traffic():
    response = plan(
        PowerRequest(
            baseline_mean=10,
            baseline_variance=4,
            mde=0.2,
            mde_type="absolute",
            n_variants=3,
            daily_traffic=1000,
        )
    )
    assert response.duration_days == math.ceil(response.total_sample_size / 1000)


def test_one_sided_design_needs_fewer_units():
    two_sided = plan(PowerRequest(baseline_rate=0.1, mde=0.1))
    one_sided = plan(PowerRequest(baseline_rate=0.1, mde=0.1, alternative="one_sided"))
    assert one_sided.sample_size_per_variant < two_sided.sample_size_per_variant


def test_self_tuned_sequential_design_inflates_by_the_constant_width_ratio():
    fixed = plan(PowerRequest(baseline_mean=0, baseline_variance=1, mde=0.1, mde_type="absolute"))
    sequential = plan(
        PowerRequest(
            baseline_mean=0, baseline_variance=1, mde=0.1, mde_type="absolute", sequential=True
        )
    )
    # With N* = N, Nρ² = k is constant, so the half-width is a constant c standard errors.
    k = -2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))
    c = math.sqrt(2 * (k + 1) / k * (0.5 * math.log(k + 1) - math.log(0.05)))
    assert sequential_multiplier(5000, 0.05, None) == pytest.approx(c, rel=1e-12)
    expected_ratio = ((c + Z(0.8)) / (Z(0.975) + Z(0.8))) ** 2
    assert sequential.sequential_inflation == pytest.approx(expected_ratio, rel=1e-6)
    assert sequential.sequential_inflation == pytest.approx(1.915, abs=1e-3)
    assert sequential.fixed_sample_size_per_variant == fixed.sample_size_per_variant
    assert sequential.sequential_tuning == 2 * sequential.sample_size_per_variant


def test_sequential_design_with_a_poor_tuning_parameter_needs_more_units():
    tuned = plan(PowerRequest(baseline_rate=0.1, mde=0.1, sequential=True))
    mistuned = plan(
        PowerRequest(baseline_rate=0.1, mde=0.1, sequential=True, sequential_tuning=1000)
    )
    assert mistuned.sample_size_per_variant > tuned.sample_size_per_variant
    assert mistuned.sequential_tuning == 1000


def test_tiny_sample_cannot_detect_any_rate_change():
    response = plan(PowerRequest(baseline_rate=0.5, sample_size_per_variant=3))
    assert response.status == "unreachable"
    assert response.sample_size_per_variant is None
    assert response.message


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"baseline_rate": 0.1}, "mde", MDE_OR_SIZE_ERROR),
        ({"baseline_rate": 0.1, "mde": 0.1, "sample_size_per_variant": 100}, "mde", None),
        ({"baseline_rate": 1.2, "mde": 0.1}, "baseline_rate", None),
        ({"baseline_rate": 0.9, "mde": 0.2}, "mde", None),
        ({"baseline_mean": 5.0, "mde": 0.1}, "baseline_rate", None),
        ({"baseline_rate": 0.1, "mde": 0.1, "n_variants": 1}, "n_variants", TOO_FEW_VARIANTS_ERROR),
        ({"baseline_rate": 0.1, "mde": 0.1, "power": 1.0}, "power", None),
        ({"baseline_rate": 0.1, "mde": -0.1}, "mde", None),
        ({"baseline_rate": 0.1, "mde": 0.1, "daily_traffic": 0}, "daily_traffic", None),
    ],
)
def test_invalid_plans_raise_an_error_naming_the_field(kwargs, field, message):
    with pytest.raises(StatsInputError) as raised:
        plan(PowerRequest(**kwargs))
    assert raised.value.field == field
    if message is not None:
        assert raised.value.message == message


def test_plan_summary_states_size_effect_and_duration():
    request = PowerRequest(baseline_rate=0.1, mde=0.1, daily_traffic=8000)
    text = describe_plan(request, plan(request))
    assert text == (
        "A fixed-horizon test with 15,337 units per variant (30,674 in total, 2 variants) "
        "detects a 10% relative change from a 10% baseline with 80% power "
        "(5% significance, two-sided). At 8,000 units a day that takes 4 days."
    )


def test_sequential_plan_summary_states_the_price_of_peeking():
    request = PowerRequest(baseline_rate=0.1, mde=0.1, sequential=True)
    text = describe_plan(request, plan(request))
    assert text.endswith("costs 1.95 times the units of a fixed-horizon test.")
