"""Throughput of the vectorised statistics engine, printed as `name: value` lines.

Run: .venv/bin/python bench/bench_stats.py [--comparisons N] [--repeats R]

One call analyses N metric × segment × variant comparisons (1,000 metrics × 25 segments × 4
treatment variants by default, half the metrics proportions and half means). Each figure is the
best of R runs. The baseline is scipy.stats.ttest_ind_from_stats on the same arrays (absolute
Welch test only: no relative lift, interval, status or correction), timed in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.stats import (  # noqa: E402  (path set above so the script runs from anywhere)
    AnalysisSettings,
    SufficientStatistics,
    analyze_batch,
)

SEGMENTS = 25
TREATMENTS = 4
TARGETS = {"frequentist": 100_000, "bayesian_with_risk": 20_000}


def build_statistics(comparisons: int, seed: int = 7) -> tuple[SufficientStatistics, np.ndarray]:
    """Sums for comparisons / (SEGMENTS × TREATMENTS) metrics, with a pre-period covariate."""
    rng = np.random.default_rng(seed)
    metrics = max(comparisons // (SEGMENTS * TREATMENTS), 1)
    shape = (metrics, SEGMENTS, TREATMENTS + 1)
    n = rng.integers(500, 50_000, size=shape).astype(float)
    is_rate = (np.arange(metrics) % 2 == 0)[:, None, None]
    rate = rng.uniform(0.02, 0.5, size=shape)
    mean = rng.normal(20.0, 3.0, size=shape)
    sd = rng.uniform(5.0, 30.0, size=shape)
    total = np.where(is_rate, np.round(n * rate), n * mean)
    squares = np.where(is_rate, total, (n - 1) * sd**2 + n * mean**2)
    z_mean, z_sd, rho = mean * 0.9, sd, 0.6
    stats = SufficientStatistics(
        n=n,
        sum=total,
        sum_squares=squares,
        covariate_sum=n * z_mean,
        covariate_sum_squares=(n - 1) * z_sd**2 + n * z_mean**2,
        covariate_sum_product=(n - 1) * rho * sd * z_sd + n * mean * z_mean,
    )
    metric_type = np.where(is_rate[:, :, 0], "proportion", "mean")
    return stats, metric_type


def without_covariate(stats: SufficientStatistics) -> SufficientStatistics:
    return SufficientStatistics(n=stats.n, sum=stats.sum, sum_squares=stats.sum_squares)


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: imports, scipy's first-call setup
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    stats, metric_type = build_statistics(args.comparisons)
    plain = without_covariate(stats)
    count = int(np.prod(stats.shape[:-1])) * (stats.shape[-1] - 1)

    cases: dict[str, Callable[[], object]] = {
        "frequentist": lambda: analyze_batch(
            plain, metric_type=metric_type, settings=AnalysisSettings(cuped=False)
        ),
        "bayesian_with_risk": lambda: analyze_batch(
            plain, metric_type=metric_type, settings=AnalysisSettings(engine="bayesian")
        ),
        "sequential": lambda: analyze_batch(
            plain, metric_type=metric_type, settings=AnalysisSettings(sequential=True)
        ),
        "frequentist_cuped_holm": lambda: analyze_batch(
            stats, metric_type=metric_type, settings=AnalysisSettings(correction="holm")
        ),
    }
    mean = plain.sum / plain.n
    sd = np.sqrt(np.maximum(plain.sum_squares - plain.sum * mean, 0) / (plain.n - 1))

    def scipy_baseline() -> object:
        return scipy_stats.ttest_ind_from_stats(
            mean[..., 1:],
            sd[..., 1:],
            plain.n[..., 1:],
            mean[..., :1],
            sd[..., :1],
            plain.n[..., :1],
            equal_var=False,
        )

    print(f"stats_comparisons: {count}")
    rates = {}
    for name, run in cases.items():
        rates[name] = count / best_seconds(run, args.repeats)
        print(f"stats_{name}_comparisons_per_s: {rates[name]:.0f}")
    baseline = count / best_seconds(scipy_baseline, args.repeats)
    print(f"stats_scipy_ttest_ind_from_stats_comparisons_per_s: {baseline:.0f}")
    for name in cases:
        print(f"stats_{name}_vs_scipy_ratio: {rates[name] / baseline:.2f}")
    for name, target in TARGETS.items():
        print(f"stats_{name}_vs_target_ratio: {rates[name] / target:.2f}")


if __name__ == "__main__":
    main()
