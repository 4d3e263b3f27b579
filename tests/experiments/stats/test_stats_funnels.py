"""A funnel's per-step comparisons (experiments/stats/funnels.py): statsmodels' Wald interval
and test for two independent proportions, the delta method for the conversion from the step
before computed from the units' own 0/1 values, the A/A false-positive rate of every step's
comparison and the coverage of a planted change, over thousands of seeded experiments.

Each simulated unit goes through the steps one by one (it tries step k only if it reached
k − 1), as a funnel's units do; the counts per step are what the database returns (drawn as
binomials on the step before's units in the simulations, from each unit's own draws in the
delta-method check). Print the
figures with ``.venv/bin/python -m tests.experiments.stats.test_stats_funnels``.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats import proportion as sm_proportion

from experiments.stats.funnels import funnel_step_changes, proportion_changes

SEED = 20261205
EXPERIMENTS = 4000
UNITS = 2000  # per arm
RATES = (0.6, 0.4, 0.5)  # each step's chance given the step before
LIFTED = (0.6, 0.48, 0.5)  # step 2 lifted by 8 points
# ±3.5 binomial standard deviations of a 5% rate over EXPERIMENTS (six rates each time).
TOLERANCE = 3.5 * np.sqrt(0.05 * 0.95 / EXPERIMENTS)


def simulate(
    rng: np.random.Generator, rates: tuple[float, ...], units: int, experiments: int
) -> np.ndarray:
    """Units reaching each step, (experiments, K): of the units that reached step k − 1, each
    reaches step k with the step's chance, so the count is binomial on the step before's."""
    counts = []
    before = np.full(experiments, units)
    for rate in rates:
        before = rng.binomial(before, rate)
        counts.append(before)
    return np.stack(counts, axis=-1)


def truth(rates: tuple[float, ...], lifted: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The true change of each step's conversion from the step before and from every unit."""
    return np.subtract(lifted, rates), np.cumprod(lifted) - np.cumprod(rates)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' odds ratio of 0/380
@pytest.mark.parametrize(
    ("xv", "nv", "xc", "nc", "alpha"),
    [
        (288, 600, 240, 600, 0.05),
        (31, 97, 12, 88, 0.05),
        (1, 400, 0, 380, 0.05),
        (530, 1000, 560, 1010, 0.01),
        (77, 150, 60, 140, 0.2),
    ],
)
def test_the_interval_and_p_value_are_statsmodels_wald_difference(xv, nv, xc, nc, alpha):
    got = proportion_changes([xc], [nc], [xv], [nv], alpha)
    low, high = sm_proportion.confint_proportions_2indep(
        xv, nv, xc, nc, method="wald", compare="diff", alpha=alpha
    )
    test = sm_proportion.test_proportions_2indep(xv, nv, xc, nc, method="wald", compare="diff")
    assert got.difference[0] == pytest.approx(xv / nv - xc / nc, rel=1e-12)
    assert got.ci_low[0] == pytest.approx(low, rel=1e-9)
    assert got.ci_high[0] == pytest.approx(high, rel=1e-9)
    assert got.p_value[0] == pytest.approx(test.pvalue, rel=1e-9)
    # One statistic, one quantile: the interval excludes 0 exactly when p < α.
    assert (got.ci_low[0] > 0 or got.ci_high[0] < 0) == (got.p_value[0] < alpha)


def _ratio_delta_se(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """The delta-method standard error of mean(numerator) / mean(denominator) from the units'
    values (the generic ratio-metric formula, population moments)."""
    n = numerator.size
    mx, my = numerator.mean(), denominator.mean()
    cov = np.cov(numerator, denominator, ddof=0)
    ratio = mx / my
    variance = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * my**2)
    return float(np.sqrt(variance))


def test_the_conversion_from_the_step_before_is_the_delta_method_ratio():
    rng = np.random.default_rng(SEED)
    arms = []
    for rates in (RATES, LIFTED):
        draws = rng.random((UNITS, 3)) < np.asarray(rates)
        arms.append(np.cumprod(draws, axis=-1).astype(float))  # units × steps, 0/1
    control, variant = arms
    got = funnel_step_changes(
        control_units=UNITS,
        control_steps=control.sum(0),
        variant_units=UNITS,
        variant_steps=variant.sum(0),
    )
    for k in (1, 2):  # steps 2 and 3 over the step before
        se = np.hypot(
            _ratio_delta_se(control[:, k], control[:, k - 1]),
            _ratio_delta_se(variant[:, k], variant[:, k - 1]),
        )
        assert got.conversion.standard_error[k] == pytest.approx(se, rel=1e-9)
        # Not the binomial over every unit (the wrong denominator): far narrower.
        q = control[:, k].sum() / control[:, k - 1].sum()
        assert got.conversion.standard_error[k] > 1.2 * np.sqrt(2 * q * (1 - q) / UNITS)
    # From every unit: a plain proportion of the units' 0/1 values.
    se = np.hypot(control[:, 2].std() / np.sqrt(UNITS), variant[:, 2].std() / np.sqrt(UNITS))
    assert got.overall.standard_error[2] == pytest.approx(se, rel=1e-9)
    # Step 1's conversion is its share of every unit.
    assert got.conversion.ci_low[0] == got.overall.ci_low[0]


def test_no_number_without_units_or_variance():
    got = funnel_step_changes(
        control_units=100, control_steps=[0, 0], variant_units=100, variant_steps=[5, 0]
    )
    assert np.isnan(got.conversion.difference[1])  # the control has no unit at step 1
    assert np.isnan(got.overall.difference[1])  # nobody reached step 2 in either arm
    assert got.overall.difference[0] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="same"):
        funnel_step_changes(
            control_units=10, control_steps=[1], variant_units=10, variant_steps=[1, 1]
        )


def rates_of(rates: tuple[float, ...], lifted: tuple[float, ...], seed: int) -> dict:
    """False positives (A/A) or coverage (lifted) of each step's two comparisons."""
    rng = np.random.default_rng(seed)
    control = simulate(rng, rates, UNITS, EXPERIMENTS)
    variant = simulate(rng, lifted, UNITS, EXPERIMENTS)
    got = funnel_step_changes(
        control_units=np.full(EXPERIMENTS, UNITS),
        control_steps=control,
        variant_units=np.full(EXPERIMENTS, UNITS),
        variant_steps=variant,
    )
    conversion, overall = truth(rates, lifted)
    out = {}
    for name, changes, true in (
        ("conversion", got.conversion, conversion),
        ("overall", got.overall, overall),
    ):
        assert not np.isnan(changes.difference).any()
        out[name] = {
            "rejected": (changes.p_value < 0.05).mean(axis=0),
            "covered": ((changes.ci_low <= true) & (true <= changes.ci_high)).mean(axis=0),
        }
    return out


@pytest.fixture(scope="module")
def a_a() -> dict:
    return rates_of(RATES, RATES, SEED)


@pytest.fixture(scope="module")
def lifted() -> dict:
    return rates_of(RATES, LIFTED, SEED + 1)


@pytest.mark.parametrize("kind", ["conversion", "overall"])
def test_a_a_false_positive_rate_of_every_step_is_five_percent(a_a, kind):
    rejected = a_a[kind]["rejected"]
    assert rejected == pytest.approx([0.05] * 3, abs=TOLERANCE), rejected


@pytest.mark.parametrize("kind", ["conversion", "overall"])
def test_the_interval_covers_a_planted_change_at_every_step(lifted, kind):
    covered = lifted[kind]["covered"]
    assert covered == pytest.approx([0.95] * 3, abs=TOLERANCE), covered
    # The lifted step is found most of the time (power), the others about 5%.
    assert lifted["conversion"]["rejected"][1] > 0.9
    assert lifted["conversion"]["rejected"][2] == pytest.approx(0.05, abs=TOLERANCE)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    print(f"{EXPERIMENTS} experiments, {UNITS} units per arm, step rates {RATES}")
    for label, data in (("A/A", rates_of(RATES, RATES, SEED)), ("lifted", None)):
        data = data or rates_of(RATES, LIFTED, SEED + 1)
        for kind in ("conversion", "overall"):
            print(
                f"{label:7} {kind:10} rejected at 5%: {data[kind]['rejected']}"
                f"  95% coverage: {data[kind]['covered']}"
            )
    small = (0.3, 0.2, 0.3)
    data = rates_of(small, small, SEED + 2)
    print(f"A/A with rare steps {small}: rejected {data['conversion']['rejected']}")
