"""Differences in quantiles (GrowthBook's CLT interval from order statistics): gbstats' vector,
coverage over thousands of seeded experiments, agreement with a bootstrap, the cluster
adjustment of event-level quantiles, and the small-sample guard.

The database's part (the sample quantile and the band's order statistics) is played here by
numpy's linear quantile on the raw draws, as ``metrics.engine.quantiles`` computes it. Print
the figures with ``.venv/bin/python -m tests.experiments.stats.test_stats_quantiles``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from experiments.stats import (
    STATUS_MESSAGES,
    AnalysisSettings,
    QuantileArms,
    analyze_quantiles,
    quantile_moments,
)
from experiments.stats.messages import (
    QUANTILE_BAND_OUTSIDE,
    QUANTILE_TIES,
    QUANTILE_TOO_FEW_UNITS,
)

SEED = 20261205
Z = norm.ppf(0.975)
# The n* grid of the statement (100·2^(k/2)), written out independently of the metric layer.
GRID = np.array([round(100 * 2 ** (k / 2)) for k in range(41)])
EXPERIMENTS = 2000
UNITS = 1000


def summaries(x: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """What the database returns for samples ``x`` of shape (..., n): n, the quantile and the
    band at the largest grid n* ≤ n, by numpy's linear quantile."""
    n = x.shape[-1]
    n_star = GRID[GRID <= n].max() if n >= GRID[0] else GRID[0]  # no band below the grid
    half = Z * np.sqrt(level * (1 - level) / n_star)
    levels = [level, max(level - half, 0.0), min(level + half, 1.0)]
    q = np.quantile(x, levels, axis=-1, method="linear")
    return {
        "n": np.full(q[0].shape, n),
        "estimate": q[0],
        "lower": q[1],
        "upper": q[2],
        "n_star": n_star,
    }


def arms_of(samples: list[np.ndarray], level: float) -> QuantileArms:
    """Arms (..., V) from one array of samples per variant."""
    parts = [summaries(x, level) for x in samples]
    stacked = {
        k: np.stack([np.broadcast_to(p[k], parts[0]["n"].shape) for p in parts], -1)
        for k in parts[0]
    }
    return QuantileArms(level=level, **stacked)


def lognormal_coverage(level: float, shift: float, seed: int) -> dict[str, float]:
    """Share of EXPERIMENTS seeded experiments (UNITS per arm, lognormal(0, 1) against
    lognormal(shift, 1)) whose 95% interval holds the true difference in the ``level`` quantile."""
    rng = np.random.default_rng(seed)
    control = rng.lognormal(0.0, 1.0, size=(EXPERIMENTS, UNITS))
    treatment = rng.lognormal(shift, 1.0, size=(EXPERIMENTS, UNITS))
    arms = arms_of([control, treatment], level)
    z = norm.ppf(level)
    truth = {"absolute": np.exp(shift + z) - np.exp(z), "relative": np.exp(shift) - 1.0}
    out = {}
    for difference, true_value in truth.items():
        result = analyze_quantiles(arms, settings=AnalysisSettings(difference=difference))
        assert (result.status == "ok").all()
        low, high = result.ci_low[:, 0], result.ci_high[:, 0]
        out[difference] = float(np.mean((low <= true_value) & (true_value <= high)))
    return out


COVERAGE_CASES = [(0.5, 0.1), (0.9, 0.1), (0.5, 0.0), (0.9, 0.0)]


@pytest.mark.parametrize(("level", "shift"), COVERAGE_CASES)
def test_interval_for_a_difference_in_quantiles_covers_the_truth_95_percent(level, shift):
    coverage = lognormal_coverage(level, shift, SEED + int(level * 100) + int(shift * 10))
    for difference, share in coverage.items():
        assert 0.935 <= share <= 0.965, (level, shift, difference, share)


def test_gbstats_vector_gives_gbstats_variance_and_bayesian_interval():
    """gbstats' QuantileStatistic test vector (p90, 11,054 against 10,861 values, n* = n):
    variance_init 10.0864 and, with a flat prior, effect 0.53651 in (0.45726, 0.61577) and
    relative 0.07495 in (0.06341, 0.08650) (gbstats tests, to 5 decimals)."""
    arms = QuantileArms(
        level=0.9,
        n=[11054, 10861],
        estimate=[7.157987489967789, 7.694499927525767],
        lower=[7.098780136176828, 7.64180598628119],
        upper=[7.217194843758751, 7.747193868770344],
        n_star=[11054, 10861],
    )
    moments = quantile_moments(arms)
    assert moments.variance[0] * 11054 == pytest.approx(10.0864, abs=5e-3)
    absolute = analyze_quantiles(
        arms, settings=AnalysisSettings(engine="bayesian", difference="absolute")
    )
    assert np.round([absolute.effect[0], absolute.ci_low[0], absolute.ci_high[0]], 5).tolist() == [
        0.53651,
        0.45726,
        0.61577,
    ]
    relative = analyze_quantiles(arms, settings=AnalysisSettings(engine="bayesian"))
    assert np.round([relative.effect[0], relative.ci_low[0], relative.ci_high[0]], 5).tolist() == [
        0.07495,
        0.06341,
        0.0865,
    ]
    frequentist = analyze_quantiles(arms, settings=AnalysisSettings(difference="absolute"))
    assert frequentist.effect[0] == pytest.approx(0.5365124375579775)
    assert frequentist.ci_high[0] - frequentist.ci_low[0] == pytest.approx(
        0.6157689162044128 - 0.4572559589115422, rel=1e-4
    )
    assert frequentist.p_value[0] < 1e-30


BOOTSTRAP_SEEDS = (1, 2, 3)


def bootstrap_widths(seed: int, level: float, resamples: int = 4000) -> tuple[float, float]:
    """(our 95% interval's width, the percentile bootstrap's) for the absolute difference in
    the ``level`` quantile of one fixed pair of lognormal samples (2,000 per arm)."""
    rng = np.random.default_rng(SEED + seed)
    a, b = rng.lognormal(0.0, 1.0, 2000), rng.lognormal(0.1, 1.0, 2000)
    result = analyze_quantiles(
        arms_of([a, b], level), settings=AnalysisSettings(difference="absolute")
    )
    ia = rng.integers(0, a.size, size=(resamples, a.size))
    ib = rng.integers(0, b.size, size=(resamples, b.size))
    diffs = np.quantile(b[ib], level, axis=1) - np.quantile(a[ia], level, axis=1)
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(result.ci_high[0] - result.ci_low[0]), float(high - low)


@pytest.mark.parametrize("seed", BOOTSTRAP_SEEDS)
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_interval_width_agrees_with_a_bootstrap_within_ten_percent(seed, level):
    ours, bootstrap = bootstrap_widths(seed, level)
    assert ours == pytest.approx(bootstrap, rel=0.10)


# --- event-level quantiles: several values per unit ---------------------------------------------
def clustered(rng: np.random.Generator, units: int, experiments: int):
    """Events of ``units`` units per experiment: a unit effect u ~ N(0, 0.7²) shared by its
    1 + Poisson(4) events, each lognormal(u, 1). Returns (values, unit index) per experiment."""
    counts = 1 + rng.poisson(4.0, size=(experiments, units))
    samples = []
    for e in range(experiments):
        effect = rng.normal(0.0, 0.7, units)
        owner = np.repeat(np.arange(units), counts[e])
        samples.append((rng.lognormal(effect[owner], 1.0), owner))
    return samples


def event_arm(values: np.ndarray, owner: np.ndarray, level: float) -> dict[str, float]:
    """The statement's event-level summary: quantile, band and the cluster sums."""
    s = summaries(values[None, :], level)
    below = np.bincount(owner, weights=(values <= s["estimate"][0]).astype(float))
    count = np.bincount(owner).astype(float)
    return {
        "n": float(values.size),
        "estimate": float(s["estimate"][0]),
        "lower": float(s["lower"][0]),
        "upper": float(s["upper"][0]),
        "n_star": float(s["n_star"]),
        "clusters": float(count.size),
        "below_sum": below.sum(),
        "below_sum_squares": (below**2).sum(),
        "count_sum": count.sum(),
        "count_sum_squares": (count**2).sum(),
        "below_count_sum_product": (below * count).sum(),
    }


def event_level_aa(level: float, experiments: int = 1200, units: int = 400):
    """A/A experiments on clustered events: (coverage with the cluster adjustment, without)."""
    rng = np.random.default_rng(SEED + 7)
    control, treatment = clustered(rng, units, experiments), clustered(rng, units, experiments)
    rows = [
        [event_arm(*c, level), event_arm(*t, level)]
        for c, t in zip(control, treatment, strict=True)
    ]
    fields = rows[0][0].keys()
    arrays = {k: np.array([[r[0][k], r[1][k]] for r in rows]) for k in fields}
    settings = AnalysisSettings(difference="absolute")
    adjusted = analyze_quantiles(QuantileArms(level=level, **arrays), settings=settings)
    iid = {k: v for k, v in arrays.items() if k in ("n", "estimate", "lower", "upper", "n_star")}
    naive = analyze_quantiles(QuantileArms(level=level, **iid), settings=settings)
    covers = [
        float(np.mean((r.ci_low[:, 0] <= 0) & (0 <= r.ci_high[:, 0]))) for r in (adjusted, naive)
    ]
    return covers[0], covers[1]


def test_event_level_interval_is_cluster_adjusted_and_covers():
    with_adjustment, without = event_level_aa(0.5)
    assert 0.935 <= with_adjustment <= 0.965
    assert without < 0.92  # events of one unit are alike: the iid interval is too narrow


# --- the small-sample guard -------------------------------------------------------------------
def _arm(level, n, **overrides):
    rng = np.random.default_rng(n)
    values = {**summaries(rng.lognormal(0, 1, (1, n)), level), **overrides}
    return {k: np.asarray(v, dtype=float).reshape(-1) for k, v in values.items()}


def _pair(level, a, b):
    """Control a and treatment b as one row; fields only one of them has are NaN in the other."""
    nan = np.full(1, np.nan)
    return QuantileArms(
        level=level,
        **{k: np.stack([a.get(k, nan), b.get(k, nan)], -1)[0] for k in a.keys() | b.keys()},
    )


@pytest.mark.parametrize(
    ("level", "n_control", "overrides", "status"),
    [
        (0.5, 99, {}, QUANTILE_TOO_FEW_UNITS),
        (0.99, 300, {}, QUANTILE_BAND_OUTSIDE),  # n* = 283: 0.99 + 1.96·√(0.0099/283) > 1
        (0.5, 500, {"lower": 3.0, "upper": 3.0}, QUANTILE_TIES),
        (
            0.5,
            500,
            {
                "clusters": 1,
                "below_sum": 250,
                "below_sum_squares": 62500,
                "count_sum": 500,
                "count_sum_squares": 250000,
                "below_count_sum_product": 125000,
            },
            QUANTILE_TOO_FEW_UNITS,
        ),
    ],
)
def test_small_samples_get_a_status_and_a_message_not_a_number(level, n_control, overrides, status):
    control = _arm(level, n_control, **overrides)
    treatment = _arm(level, 5000)
    for engine in ("frequentist", "bayesian"):
        result = analyze_quantiles(
            _pair(level, control, treatment), settings=AnalysisSettings(engine=engine)
        )
        assert result.status.tolist() == [status]
        assert result.messages.tolist() == [STATUS_MESSAGES[status]]
        assert np.isnan([result.effect[0], result.ci_low[0], result.ci_high[0]]).all()
    assert "wait for more data" in STATUS_MESSAGES[QUANTILE_TOO_FEW_UNITS]
    assert "p90 rather than p99" in STATUS_MESSAGES[QUANTILE_BAND_OUTSIDE]


def test_one_refused_variant_leaves_the_others_and_the_correction_family_alone():
    level = 0.9
    control, fine, small = _arm(level, 4000), _arm(level, 4100), _arm(level, 50)
    arms = QuantileArms(
        level=level, **{k: np.stack([control[k], fine[k], small[k]], -1)[0] for k in control}
    )
    alone = QuantileArms(
        level=level, **{k: np.stack([control[k], fine[k]], -1)[0] for k in control}
    )
    holm = AnalysisSettings(correction="holm")
    result = analyze_quantiles(arms, settings=holm)
    assert result.status.tolist() == ["ok", QUANTILE_TOO_FEW_UNITS]
    # The refused comparison is not counted in the family: the other one's p-value is unchanged.
    assert result.p_value[0] == pytest.approx(analyze_quantiles(alone, settings=holm).p_value[0])


def test_interval_and_p_value_agree():
    rng = np.random.default_rng(SEED)
    arms = arms_of([rng.lognormal(0, 1, (300, 800)), rng.lognormal(0.08, 1, (300, 800))], 0.5)
    result = analyze_quantiles(arms, settings=AnalysisSettings(difference="absolute"))
    excludes_zero = (result.ci_low[:, 0] > 0) | (result.ci_high[:, 0] < 0)
    assert (excludes_zero == (result.p_value[:, 0] < 0.05)).all()
    assert 0 < excludes_zero.mean() < 1


def test_invalid_inputs_never_raise():
    arms = QuantileArms(
        level=[[0.5], [1.5], [0.5]],
        n=[[-3, 500], [500, 500], [500, 500]],
        estimate=[[1, 1], [1, 1], [np.nan, 1]],
        lower=0.9,
        upper=1.1,
        n_star=400,
    )
    result = analyze_quantiles(arms)
    assert result.status[:, 0].tolist() == ["invalid_input"] * 3


def main() -> None:
    for level, shift in COVERAGE_CASES:
        coverage = lognormal_coverage(level, shift, SEED + int(level * 100) + int(shift * 10))
        print(f"coverage p{int(level * 100)} shift {shift}: {coverage}")
    for level in (0.5, 0.9):
        for seed in BOOTSTRAP_SEEDS:
            ours, boot = bootstrap_widths(seed, level)
            label = f"width p{int(level * 100)} seed {seed}"
            print(f"{label}: ours {ours:.4f} bootstrap {boot:.4f} ratio {ours / boot:.3f}")
    print("event-level A/A coverage (adjusted, iid):", event_level_aa(0.5))


if __name__ == "__main__":
    main()
